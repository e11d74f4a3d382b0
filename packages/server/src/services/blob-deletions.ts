import { claimDueBlobDeletions, forgetBlobDeletion, postponeBlobDeletion, queueBlobDeletions } from "../db/blob-deletions.js";
import type { Services } from "./context.js";

const BATCH = 50;
/** The first retry after 30 s, then twice as long each time, at most an hour apart. */
const FIRST_RETRY_MS = 30_000;
const MAX_RETRY_MS = 60 * 60 * 1000;

function retryAt(s: Services, attempts: number): string {
  const wait = Math.min(FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1), MAX_RETRY_MS);
  return new Date(s.clock().getTime() + wait).toISOString();
}

/**
 * Deletes the stored bytes of `keys`, each already in `blob_deletions` (queued in the transaction
 * that deleted their rows). A confirmed deletion removes its row; a failed one is logged and left
 * for the sweeper (retryBlobDeletions). Never throws: the rows are already gone.
 */
export async function deleteQueuedBlobs(s: Services, keys: string[]): Promise<void> {
  for (const key of keys) await attempt(s, key, 0);
}

/**
 * Deletes stored bytes that no row points at (an upload that was refused after its bytes were
 * stored). If the store fails, the deletion is queued for the sweeper. Never throws.
 */
export async function removeBlobs(s: Services, keys: string[]): Promise<void> {
  for (const key of keys) {
    try {
      await s.storage.delete(key);
    } catch (err) {
      s.logger.warn({ err, key }, "could not delete stored bytes; the sweeper will retry");
      try {
        await queueBlobDeletions(s.db, [key], s.clock().toISOString(), 1, retryAt(s, 1));
      } catch (dbErr) {
        s.logger.error({ err: dbErr, key }, "could not delete stored bytes nor queue their deletion");
      }
    }
  }
}

async function attempt(s: Services, key: string, attemptsBefore: number): Promise<boolean> {
  try {
    await s.storage.delete(key);
  } catch (err) {
    const attempts = attemptsBefore + 1;
    s.logger.warn({ err, key, attempts }, "could not delete stored bytes; the sweeper will retry");
    await postponeBlobDeletion(s.db, key, attempts, retryAt(s, attempts)).catch((dbErr: unknown) =>
      s.logger.error({ err: dbErr, key }, "could not record a failed deletion of stored bytes"),
    );
    return false;
  }
  await forgetBlobDeletion(s.db, key).catch((dbErr: unknown) => s.logger.error({ err: dbErr, key }, "could not record a deletion of stored bytes"));
  return true;
}

/**
 * The sweeper's part: retries every deletion that is due, until the store confirms it. Each row is
 * claimed (SKIP LOCKED on PostgreSQL), so two sweepers never delete the same key at once. Stops
 * at the first batch in which the store failed: it is likely down, and the rest waits for its turn.
 */
export async function retryBlobDeletions(s: Services): Promise<{ deleted: number; failed: number }> {
  let deleted = 0;
  let failed = 0;
  for (;;) {
    const r = await s.db.transaction(async (trx) => {
      const due = await claimDueBlobDeletions(trx, s.clock().toISOString(), BATCH);
      let ok = 0;
      let bad = 0;
      for (const row of due) {
        try {
          await s.storage.delete(row.key);
          await forgetBlobDeletion(trx, row.key);
          ok++;
        } catch (err) {
          const attempts = row.attempts + 1;
          s.logger.warn({ err, key: row.key, attempts }, "could not delete stored bytes; will retry");
          await postponeBlobDeletion(trx, row.key, attempts, retryAt(s, attempts));
          bad++;
        }
      }
      return { n: due.length, ok, bad };
    });
    deleted += r.ok;
    failed += r.bad;
    if (r.n < BATCH || r.bad > 0) break;
  }
  return { deleted, failed };
}
