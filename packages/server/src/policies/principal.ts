import type { components } from "../generated/api.js";
import type { Role } from "../db/users.js";

/** What a caller may do; the spec's `Scope` schema lists the same words. */
export type Scope = components["schemas"]["Scope"];

/** Every scope, in the order the spec lists them. */
export const SCOPES: readonly Scope[] = ["packages:read", "packages:write", "webhooks:read", "webhooks:write", "tokens:write", "admin"];

/**
 * How the caller proved who they are: a personal API token, a signed-in browser session, or (room
 * for it) a short-lived token minted from a CI pipeline's OIDC identity.
 */
export type PrincipalKind = "token" | "session" | "federated";

/**
 * The authenticated caller of an operation: a user, through one of their API tokens (`tokenId`)
 * or a signed-in browser session of the web interface (`sessionId`), holding `scopes`.
 */
export interface Principal {
  kind: PrincipalKind;
  userId: string;
  role: Role;
  /** What this credential may do: never more than the user's role allows (policies/scopes.ts). */
  scopes: ReadonlySet<Scope>;
  /** The API token the caller used (absent for a browser session). */
  tokenId?: string;
  /** The web session the caller used (absent for an API token). */
  sessionId?: string;
  /** The user as the API shows it, when the authentication already read it (saves a query). */
  profile?: components["schemas"]["User"];
  /** Where the request came from (its address and user agent), for the audit trail. */
  client?: { address: string | undefined; userAgent: string | undefined };
}
