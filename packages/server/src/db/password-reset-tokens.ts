import type { Knex } from "knex";

/** Why a reset link was made: the user asked ("forgot password"), or an admin forced it. */
export type ResetReason = "requested" | "forced";

export interface ResetTokenRow {
  id: string;
  user_id: string;
  /** Hex SHA-256 of the token in the email's link; the token itself is never stored. */
  token_hash: string;
  reason: ResetReason;
  created_at: string;
  expires_at: string;
}

/** A reset token with what confirming it needs to know of its user. */
export interface ResetTokenWithUser extends ResetTokenRow {
  u_disabled: unknown;
}

export async function insertResetToken(db: Knex, row: ResetTokenRow): Promise<void> {
  await db("password_reset_tokens").insert(row);
}

/** The token with this hash and its user's state, in one indexed query. */
export async function findResetToken(db: Knex, tokenHash: string): Promise<ResetTokenWithUser | undefined> {
  return db("password_reset_tokens as r").join("users as u", "u.id", "r.user_id").where("r.token_hash", tokenHash).first("r.*", "u.disabled as u_disabled");
}

/**
 * Uses a token up: deletes it if it is still there and unexpired at `now`. True for exactly one
 * caller however many try at once (PostgreSQL's row lock makes a second DELETE find nothing once
 * the first commits; SQLite runs one writing transaction at a time).
 */
export async function consumeResetToken(db: Knex, id: string, now: string): Promise<boolean> {
  return (await db("password_reset_tokens").where({ id }).andWhere("expires_at", ">", now).delete()) > 0;
}

/** Deletes every outstanding token of a user (a newer one replaces them; a new password ends them). */
export async function deleteUserResetTokens(db: Knex, userId: string): Promise<number> {
  return db("password_reset_tokens").where({ user_id: userId }).delete();
}

/** Deletes the tokens that expired before `now`. */
export async function deleteExpiredResetTokens(db: Knex, now: string): Promise<number> {
  return db("password_reset_tokens").where("expires_at", "<=", now).delete();
}
