import crypto from "node:crypto";
import type { components } from "../generated/api.js";
import { NotFound, Unauthorized } from "../errors.js";
import { bool } from "../db/knex.js";
import { findLiveToken, findTokenWithUser, insertToken, listActiveTokens, revokeTokenRow, touchToken, type TokenRow } from "../db/tokens.js";
import { recordAuditEvent } from "../events/audit-trail.js";
import type { Role } from "../db/users.js";
import { authorize, grantedScopes, isScope, newTokenScopes, requestedTokenScopes, SCOPES, tokenListScope, type Scope } from "../policies/index.js";
import { generateApiToken, sha256Hex, TOKEN_PATTERN } from "../security/secrets.js";
import { addDays, nowIso, type Client, type Principal, type Services } from "./context.js";
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

/** What the audit trail says of a token: never its secret (the prefix is shown in lists too). */
function tokenFacts(row: TokenRow): Record<string, unknown> {
  return { id: row.id, name: row.name, prefix: row.prefix, expires_at: row.expires_at, scopes: row.scopes === null ? null : storedScopes(row) };
}

/** How a token came to be, for the audit trail: `token.created` by its user, or a password sign-in that made it. */
type Issued = { type: "token.created"; actor: Principal } | { type: "auth.signed_in"; client: Client | undefined };

async function issueToken(s: Services, user: { id: string; role: Role }, input: Schemas["TokenCreateRequest"], scopes: Scope[] | null, how: Issued): Promise<TokenCreated> {
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
  await s.db.transaction(async (trx) => {
    await insertToken(trx, row);
    if (how.type === "token.created") await recordAuditEvent(trx, s, { type: how.type, actor: how.actor, userId, data: { token: tokenFacts(row) } });
    else {
      const actor = { kind: "token", userId, role: user.role, scopes: new Set<Scope>(), client: how.client } satisfies Principal;
      await recordAuditEvent(trx, s, { type: how.type, actor, userId, data: { method: "token_login", token: tokenFacts(row) } });
    }
  });
  return { ...toToken(row, user.role), token: raw };
}

/**
 * `POST /me/tokens`: a new token for the caller, shown raw only in this answer. It holds no more
 * than the caller's own credential, and only the `scopes` asked for when given (policies/tokens.ts).
 */
export function createToken(s: Services, user: Principal, input: Schemas["TokenCreateRequest"]): Promise<TokenCreated> {
  authorize(user, "token.create");
  const scopes = input.scopes ? requestedTokenScopes(user, input.scopes) : newTokenScopes(user);
  return issueToken(s, { id: user.userId, role: user.role }, input, scopes, { type: "token.created", actor: user });
}

/** `POST /auth/token`: email and password for a new token (how `sf login` gets one). */
export async function createSessionToken(s: Services, input: Schemas["LoginRequest"], client?: Client): Promise<TokenCreated> {
  // Refused before the password is looked at (nor counted by the login limits: not a 401).
  if (!s.config.passwordLogin) throw passwordLoginDisabled();
  const user = await authenticatePassword(s, input.email, input.password, { method: "token_login", client });
  // The password holds every scope of the role: the asked scopes are checked against that.
  const scopes = input.scopes ? requestedTokenScopes({ kind: "token", userId: user.id, role: user.role, scopes: grantedScopes(user.role, null) }, input.scopes) : null;
  return issueToken(s, user, { name: input.name, ...(input.expires_in_days ? { expires_in_days: input.expires_in_days } : {}) }, scopes, { type: "auth.signed_in", client });
}

/** `GET /me/tokens`. */
export async function listTokens(s: Services, user: Principal): Promise<Token[]> {
  return (await listActiveTokens(s.db, tokenListScope(user).userId)).map((row) => toToken(row, user.role));
}

/** `DELETE /me/tokens/{id}`. */
export async function revokeToken(s: Services, user: Principal, id: string): Promise<void> {
  const owner = tokenListScope(user).userId;
  await s.db.transaction(async (trx) => {
    const row = await findLiveToken(trx, owner, canonicalId(id));
    if (!row || !(await revokeTokenRow(trx, owner, row.id, nowIso(s.clock)))) throw new NotFound("token_not_found", "Token not found");
    await recordAuditEvent(trx, s, { type: "token.revoked", actor: user, userId: owner, data: { token: tokenFacts(row) } });
  });
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
