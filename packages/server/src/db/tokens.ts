import type { Db } from "./knex.js";

export interface TokenRow {
  id: string;
  user_id: string;
  name: string;
  prefix: string;
  token_hash: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface Token {
  id: string;
  name: string;
  prefix: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

export function toToken(row: TokenRow): Token {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    created_at: row.created_at,
    expires_at: row.expires_at,
    last_used_at: row.last_used_at,
  };
}

export async function insertToken(db: Db, row: TokenRow): Promise<void> {
  await db("api_tokens").insert(row);
}

/** The token with this hash together with its user, in one indexed query. */
export async function findTokenWithUser(
  db: Db,
  tokenHash: string,
): Promise<(TokenRow & { u_disabled: unknown; u_role: string }) | undefined> {
  return db("api_tokens as t")
    .join("users as u", "u.id", "t.user_id")
    .where("t.token_hash", tokenHash)
    .first("t.*", "u.disabled as u_disabled", "u.role as u_role");
}

export async function listActiveTokens(db: Db, userId: string): Promise<TokenRow[]> {
  return db<TokenRow>("api_tokens")
    .where({ user_id: userId })
    .whereNull("revoked_at")
    .orderBy([{ column: "created_at", order: "desc" }, { column: "id", order: "desc" }]);
}

/** Marks a token of this user revoked; returns false if there is no such live token. */
export async function revokeTokenRow(db: Db, userId: string, id: string, now: string): Promise<boolean> {
  const n = await db("api_tokens").where({ id, user_id: userId }).whereNull("revoked_at").update({ revoked_at: now });
  return n > 0;
}

export async function touchToken(db: Db, id: string, now: string): Promise<void> {
  await db("api_tokens").where({ id }).update({ last_used_at: now });
}
