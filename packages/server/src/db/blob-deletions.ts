import type { Knex } from "knex";
import { lockSkipLocked } from "./knex.js";

/**
 * Stored bytes whose rows are gone but whose deletion the store has not confirmed yet. A row is
 * written in the same transaction as the rows it belonged to (or when a delete failed), and goes
 * once the store said the object is gone; the sweeper retries the rest.
 */
export interface BlobDeletionRow {
  key: string;
  attempts: number;
  next_at: string;
}

/** Rows per INSERT: knex writes a multi-row upsert on SQLite as one compound SELECT, which SQLite caps at 500 terms. */
const INSERT_BATCH = 200;

export async function queueBlobDeletions(db: Knex, keys: string[], nowIso: string, attempts = 0, nextAt = nowIso): Promise<void> {
  for (let i = 0; i < keys.length; i += INSERT_BATCH) {
    await db("blob_deletions")
      .insert(keys.slice(i, i + INSERT_BATCH).map((key) => ({ key, attempts, next_at: nextAt, created_at: nowIso })))
      .onConflict("key")
      .ignore();
  }
}

/** Up to `limit` deletions due by `nowIso`, claimed for the transaction `trx` (SKIP LOCKED on PostgreSQL). */
export async function claimDueBlobDeletions(trx: Knex, nowIso: string, limit: number): Promise<BlobDeletionRow[]> {
  return lockSkipLocked(trx, trx("blob_deletions").select("key", "attempts", "next_at").where("next_at", "<=", nowIso).orderBy("next_at").limit(limit));
}

export async function forgetBlobDeletion(db: Knex, key: string): Promise<void> {
  await db("blob_deletions").where({ key }).delete();
}

export async function postponeBlobDeletion(db: Knex, key: string, attempts: number, nextAt: string): Promise<void> {
  await db("blob_deletions").where({ key }).update({ attempts, next_at: nextAt });
}

/** Which of `keys` (at most a few hundred) wait in the deletion queue. */
export async function queuedBlobDeletionKeys(db: Knex, keys: string[]): Promise<Set<string>> {
  const rows = await db("blob_deletions").whereIn("key", keys).select<{ key: string }[]>("key");
  return new Set(rows.map((r) => r.key));
}
