import crypto from "node:crypto";
import { NotFound, Unauthorized } from "../errors.js";
import { bool } from "../db/knex.js";
import {
  findTokenWithUser,
  insertToken,
  listActiveTokens,
  revokeTokenRow,
  toToken,
  touchToken,
  type Token,
  type TokenRow,
} from "../db/tokens.js";
import type { Role } from "../db/users.js";
import { generateApiToken, sha256Hex, TOKEN_PATTERN } from "../security/secrets.js";
import { addDays, nowIso, type Services } from "./context.js";
import { canonicalId, cleanName } from "./users.js";

/** `last_used_at` is written at most this often per token, not on every request. */
const TOUCH_INTERVAL_MS = 60_000;

export interface Principal {
  userId: string;
  role: Role;
  tokenId: string;
}

export async function createToken(
  s: Services,
  userId: string,
  input: { name: string; expires_in_days?: number | undefined },
): Promise<Token & { token: string }> {
  const raw = generateApiToken();
  const now = s.clock();
  const row: TokenRow = {
    id: crypto.randomUUID(),
    user_id: userId,
    name: cleanName(input.name, "/body/name") || "token",
    prefix: raw.slice(0, 11),
    token_hash: sha256Hex(raw),
    created_at: now.toISOString(),
    expires_at: input.expires_in_days ? addDays(now, input.expires_in_days).toISOString() : null,
    last_used_at: null,
    revoked_at: null,
  };
  await insertToken(s.db, row);
  return { ...toToken(row), token: raw };
}

export async function listTokens(s: Services, userId: string): Promise<Token[]> {
  return (await listActiveTokens(s.db, userId)).map(toToken);
}

export async function revokeToken(s: Services, userId: string, id: string): Promise<void> {
  if (!(await revokeTokenRow(s.db, userId, canonicalId(id), nowIso(s.clock)))) throw new NotFound("Token not found");
}

/**
 * Resolves a raw bearer token to its user. Always one SHA-256 and one indexed lookup, whatever is
 * wrong with the token; the lookup is by hash, so no comparison of secrets leaks timing.
 */
export async function resolveToken(s: Services, raw: string): Promise<Principal> {
  const hash = sha256Hex(raw);
  const row = TOKEN_PATTERN.test(raw) ? await findTokenWithUser(s.db, hash) : undefined;
  const now = s.clock();
  if (!row || row.revoked_at !== null || bool(row.u_disabled)) throw new Unauthorized("Missing or invalid token");
  if (row.expires_at !== null && row.expires_at <= now.toISOString()) throw new Unauthorized("Token has expired");
  if (row.last_used_at === null || now.getTime() - Date.parse(row.last_used_at) > TOUCH_INTERVAL_MS) {
    // Not awaited on the request path would risk an unhandled rejection; it is one indexed update.
    await touchToken(s.db, row.id, now.toISOString());
  }
  return { userId: row.user_id, role: row.u_role as Role, tokenId: row.id };
}
