import type { Knex } from "knex";

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

export async function insertToken(db: Knex, row: TokenRow): Promise<void> {
  await db("api_tokens").insert(row);
}

/** The token with this hash together with its user, in one indexed query. */
export async function findTokenWithUser(
  db: Knex,
  tokenHash: string,
): Promise<(TokenRow & { u_disabled: unknown; u_role: string }) | undefined> {
  return db("api_tokens as t")
    .join("users as u", "u.id", "t.user_id")
    .where("t.token_hash", tokenHash)
    .first("t.*", "u.disabled as u_disabled", "u.role as u_role");
}

export async function listActiveTokens(db: Knex, userId: string): Promise<TokenRow[]> {
  return db<TokenRow>("api_tokens")
    .where({ user_id: userId })
    .whereNull("revoked_at")
    .orderBy([{ column: "created_at", order: "desc" }, { column: "id", order: "desc" }]);
}

/** Marks a token of this user revoked; returns false if there is no such live token. */
export async function revokeTokenRow(db: Knex, userId: string, id: string, now: string): Promise<boolean> {
  const n = await db("api_tokens").where({ id, user_id: userId }).whereNull("revoked_at").update({ revoked_at: now });
  return n > 0;
}

export async function touchToken(db: Knex, id: string, now: string): Promise<void> {
  await db("api_tokens").where({ id }).update({ last_used_at: now });
}
