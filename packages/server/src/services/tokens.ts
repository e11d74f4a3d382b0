import crypto from "node:crypto";
import type { components } from "../generated/api.js";
import { NotFound, Unauthorized } from "../errors.js";
import { bool } from "../db/knex.js";
import { findTokenWithUser, insertToken, listActiveTokens, revokeTokenRow, touchToken, type TokenRow } from "../db/tokens.js";
import type { Role } from "../db/users.js";
import { authorize, grantedScopes, isScope, newTokenScopes, requestedTokenScopes, SCOPES, tokenListScope, type Scope } from "../policies/index.js";
import { generateApiToken, sha256Hex, TOKEN_PATTERN } from "../security/secrets.js";
import { addDays, nowIso, type Principal, type Services } from "./context.js";
import { authenticatePassword, canonicalId, passwordLoginDisabled } from "./users.js";
import { cleanText } from "./text.js";

type Schemas = components["schemas"];
export type Token = Schemas["Token"];
export type TokenCreated = Schemas["TokenCreated"];

/** `last_used_at` is written at most this often per token, not on every request. */
const TOUCH_INTERVAL_MS = 60_000;

/** The scopes a row is limited to (unknown words are dropped: they grant nothing), or null. */
function storedScopes(row: Pick<TokenRow, "scopes">): Scope[] | null {
  if (row.scopes === null) return null;
  const list: unknown = JSON.parse(row.scopes);
  return Array.isArray(list) ? list.filter((s): s is Scope => typeof s === "string" && isScope(s)) : [];
}

/** A token as the API shows it: what it may do today (a row without a limit: all its user's role allows). */
function toToken(row: TokenRow, role: Role): Token {
  const granted = grantedScopes(role, storedScopes(row));
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    created_at: row.created_at,
    expires_at: row.expires_at,
    last_used_at: row.last_used_at,
    kind: "personal",
    scopes: SCOPES.filter((sc) => granted.has(sc)),
  };
}

async function issueToken(s: Services, user: { id: string; role: Role }, input: Schemas["TokenCreateRequest"], scopes: Scope[] | null): Promise<TokenCreated> {
  const userId = user.id;
  const raw = generateApiToken();
  const now = s.clock();
  const row: TokenRow = {
    id: crypto.randomUUID(),
    user_id: userId,
    name: cleanText(input.name, "/body/name") || "token",
    prefix: raw.slice(0, 11),
    token_hash: sha256Hex(raw),
    created_at: now.toISOString(),
    expires_at: input.expires_in_days ? addDays(now, input.expires_in_days).toISOString() : null,
    last_used_at: null,
    revoked_at: null,
    scopes: scopes === null ? null : JSON.stringify(scopes),
  };
  await insertToken(s.db, row);
  return { ...toToken(row, user.role), token: raw };
}

/**
 * `POST /me/tokens`: a new token for the caller, shown raw only in this answer. It holds no more
 * than the caller's own credential, and only the `scopes` asked for when given (policies/tokens.ts).
 */
export function createToken(s: Services, user: Principal, input: Schemas["TokenCreateRequest"]): Promise<TokenCreated> {
  authorize(user, "token.create");
  const scopes = input.scopes ? requestedTokenScopes(user, input.scopes) : newTokenScopes(user);
  return issueToken(s, { id: user.userId, role: user.role }, input, scopes);
}

/** `POST /auth/token`: email and password for a new token (how `sf login` gets one). */
export async function createSessionToken(s: Services, input: Schemas["LoginRequest"]): Promise<TokenCreated> {
  // Refused before the password is looked at (nor counted by the login limits: not a 401).
  if (!s.config.passwordLogin) throw passwordLoginDisabled();
  const user = await authenticatePassword(s, input.email, input.password);
  // The password holds every scope of the role: the asked scopes are checked against that.
  const scopes = input.scopes ? requestedTokenScopes({ kind: "token", userId: user.id, role: user.role, scopes: grantedScopes(user.role, null) }, input.scopes) : null;
  return issueToken(s, user, { name: input.name, ...(input.expires_in_days ? { expires_in_days: input.expires_in_days } : {}) }, scopes);
}

/** `GET /me/tokens`. */
export async function listTokens(s: Services, user: Principal): Promise<Token[]> {
  return (await listActiveTokens(s.db, tokenListScope(user).userId)).map((row) => toToken(row, user.role));
}

/** `DELETE /me/tokens/{id}`. */
export async function revokeToken(s: Services, user: Principal, id: string): Promise<void> {
  if (!(await revokeTokenRow(s.db, tokenListScope(user).userId, canonicalId(id), nowIso(s.clock)))) throw new NotFound("token_not_found", "Token not found");
}

/**
 * Resolves a raw bearer token to its user. Always one SHA-256 and one indexed lookup, whatever is
 * wrong with the token; the lookup is by hash, so no comparison of secrets leaks timing.
 */
export async function resolveToken(s: Services, raw: string): Promise<Principal> {
  const hash = sha256Hex(raw);
  const row = TOKEN_PATTERN.test(raw) ? await findTokenWithUser(s.db, hash) : undefined;
  const now = s.clock();
  if (!row || row.revoked_at !== null || bool(row.u_disabled)) throw new Unauthorized("token_invalid", "Missing or invalid token");
  if (row.expires_at !== null && row.expires_at <= now.toISOString()) throw new Unauthorized("token_expired", "Token has expired");
  if (row.last_used_at === null || now.getTime() - Date.parse(row.last_used_at) > TOUCH_INTERVAL_MS) {
    // Awaited: a write left floating could end in an unhandled rejection. It is one indexed update.
    await touchToken(s.db, row.id, now.toISOString());
  }
  const role = row.u_role as Role;
  return {
    // A token minted by a trust policy (services/oidc-exchange.ts) holds the policy's scopes.
    kind: row.kind === "federated" ? "federated" : "token",
    userId: row.user_id,
    role,
    scopes: grantedScopes(role, storedScopes(row)),
    tokenId: row.id,
    profile: { id: row.user_id, email: row.u_email, name: row.u_name, role: row.u_role as Role, disabled: false, created_at: row.u_created_at },
  };
}
