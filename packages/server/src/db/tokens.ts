import type { Knex } from "knex";
import { hotGet } from "./hot.js";

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
  /** A JSON array of the scopes the token is limited to; null: every scope its user's role allows. */
  scopes: string | null;
  /** `federated`: minted from a CI pipeline's OIDC identity by a trust policy (absent: `personal`). */
  kind?: "personal" | "federated";
  /** The trust policy that minted a federated token. */
  trust_policy_id?: string | null;
}

export async function insertToken(db: Knex, row: TokenRow): Promise<void> {
  await db("api_tokens").insert(row);
}

/** A token with what a request needs of its user. */
export interface TokenWithUser extends TokenRow {
  u_email: string;
  u_name: string;
  u_role: string;
  u_disabled: unknown;
  u_created_at: string;
}

/** The token with this hash together with its user, in one indexed query (a hot statement: every authenticated request). */
export async function findTokenWithUser(db: Knex, tokenHash: string): Promise<TokenWithUser | undefined> {
  return hotGet<TokenWithUser>(
    db,
    "token_with_user",
    "select t.*, u.email as u_email, u.name as u_name, u.role as u_role, u.disabled as u_disabled, u.created_at as u_created_at " +
      "from api_tokens t join users u on u.id = t.user_id where t.token_hash = ?",
    [tokenHash],
  );
}

export async function listActiveTokens(db: Knex, userId: string): Promise<TokenRow[]> {
  return db<TokenRow>("api_tokens")
    .where({ user_id: userId, kind: "personal" })
    .whereNull("revoked_at")
    .orderBy([
      { column: "created_at", order: "desc" },
      { column: "id", order: "desc" },
    ]);
}

/** A live (unrevoked) token of this user, or undefined. */
export async function findLiveToken(db: Knex, userId: string, id: string): Promise<TokenRow | undefined> {
  return db<TokenRow>("api_tokens").where({ id, user_id: userId }).whereNull("revoked_at").first();
}

/** Marks a token of this user revoked; returns false if there is no such live token. */
export async function revokeTokenRow(db: Knex, userId: string, id: string, now: string): Promise<boolean> {
  const n = await db("api_tokens").where({ id, user_id: userId }).whereNull("revoked_at").update({ revoked_at: now });
  return n > 0;
}

/** Revokes every live token of a user, personal and federated alike; returns how many. */
export async function revokeUserTokens(db: Knex, userId: string, now: string): Promise<number> {
  return db("api_tokens").where({ user_id: userId }).whereNull("revoked_at").update({ revoked_at: now });
}

export async function touchToken(db: Knex, id: string, now: string): Promise<void> {
  await db("api_tokens").where({ id }).update({ last_used_at: now });
}
