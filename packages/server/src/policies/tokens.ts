import type { Principal, Scope } from "./principal.js";
import { checkScopes, scopesForRole } from "./scopes.js";
import { SCOPES } from "./principal.js";
import { enforce, type Decision } from "./decision.js";

/**
 * API tokens: a caller manages their own (`tokens:write`); another user's token is not theirs to
 * see, so its id answers 404 (the list and revoke queries filter by user). A new token never holds
 * more than the credential that created it.
 */
export const tokenRules = {
  "token.create": (principal: Principal): Decision => checkScopes(principal, ["tokens:write"]),
};

export type TokenAction = keyof typeof tokenRules;

/** The scope of the caller's token queries (list, revoke): their own tokens. */
export function tokenListScope(principal: Principal): { userId: string } {
  enforce(checkScopes(principal, ["tokens:write"]));
  return { userId: principal.userId };
}

/**
 * What a new token is limited to: its creator's own scopes when those are narrower than their role
 * allows (a limited token cannot mint a wider one), else nothing (`null`: whatever the role allows,
 * as it changes).
 */
export function newTokenScopes(principal: Principal): Scope[] | null {
  const full = scopesForRole(principal.role);
  return full.every((s) => principal.scopes.has(s)) ? null : full.filter((s) => principal.scopes.has(s));
}

/**
 * What a new token asked to hold `requested` is limited to: those scopes, each of which the
 * creator must hold (403 `insufficient_scope`, or `admin_required` for `admin` asked by a user).
 * Asking for every scope the role allows still stores the list: the token does not grow when the
 * role does.
 */
export function requestedTokenScopes(principal: Principal, requested: readonly Scope[]): Scope[] {
  enforce(checkScopes(principal, requested));
  return SCOPES.filter((s) => requested.includes(s));
}
