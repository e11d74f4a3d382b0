import type { Knex } from "knex";
import { isUniqueViolation } from "./knex.js";

export interface IdempotencyKeyRow {
  user_id: string;
  key_hash: string;
  operation: string;
  fingerprint: string;
  state: "pending" | "done";
  status: number | null;
  response: string | null;
  created_at: string;
}

/** Inserts a pending claim; false when the user already has a row for this key. */
export async function insertIdempotencyKey(db: Knex, row: IdempotencyKeyRow): Promise<boolean> {
  try {
    await db("idempotency_keys").insert(row);
    return true;
  } catch (err) {
    if (isUniqueViolation(err)) return false;
    throw err;
  }
}

export async function findIdempotencyKey(db: Knex, userId: string, keyHash: string): Promise<IdempotencyKeyRow | undefined> {
  return db<IdempotencyKeyRow>("idempotency_keys").where({ user_id: userId, key_hash: keyHash }).first();
}

/** Records the answer of a pending claim. */
export async function completeIdempotencyKey(db: Knex, userId: string, keyHash: string, status: number, response: string): Promise<void> {
  await db("idempotency_keys").where({ user_id: userId, key_hash: keyHash, state: "pending" }).update({ state: "done", status, response });
}

/** Takes over a pending claim left by a request that died, if it is still the one seen. */
export async function retakeIdempotencyKey(db: Knex, row: IdempotencyKeyRow, now: string): Promise<boolean> {
  const n = await db("idempotency_keys").where({ user_id: row.user_id, key_hash: row.key_hash, state: "pending", created_at: row.created_at }).update({ created_at: now });
  return n > 0;
}

export async function deleteIdempotencyKey(db: Knex, userId: string, keyHash: string): Promise<void> {
  await db("idempotency_keys").where({ user_id: userId, key_hash: keyHash }).delete();
}

/** Removes answers older than `before`; returns how many. */
export async function deleteIdempotencyKeysBefore(db: Knex, before: string): Promise<number> {
  return db("idempotency_keys").where("created_at", "<", before).delete();
}
