import { deleteExpiredFederatedTokens } from "../db/trust-policies.js";
import { deleteExpiredRateCounters } from "../db/rate-limits.js";
import { deleteLapsedQuotaReservations } from "../db/quota.js";
import { claimExpiring, claimPurgeable, markExpired, markPurged } from "../db/packages.js";
import { emit } from "../events/emit.js";
import { storageKeysOf } from "../db/files.js";
import { addDays, type Services } from "../services/context.js";
import { expireIdempotencyKeys } from "../services/idempotency.js";
import { purgeEndedSessions } from "../services/sessions.js";
import { sweepExpiredUploads } from "../services/uploads.js";
import { retryBlobDeletions } from "../services/blob-deletions.js";
import { removeOrphanBlobsWhenDue } from "../services/orphan-blobs.js";

const BATCH = 50;

/**
 * One pass: marks active packages past `expires_at` as expired, then deletes the stored bytes of
 * expired and revoked outbound packages once `SF_RETENTION_DAYS` have passed (0: at once),
 * recording `purged_at`. Inbound packages keep their files until the owner deletes them. Safe with
 * several instances on PostgreSQL: each package is claimed (`FOR UPDATE SKIP LOCKED`), so two
 * sweepers never work on the same one, and the bytes are deleted before the claim commits (a crash
 * in between only means the next pass deletes them again).
 */
export async function sweepOnce(s: Services): Promise<{ expired: number; purged: number }> {
  const started = performance.now();
  let ok = false;
  try {
    const result = await sweep(s);
    ok = true;
    return result;
  } finally {
    // Real time, not the (test) clock: how long the pass took and when it ended, for the metrics.
    s.metrics.sweeperRan(ok, (performance.now() - started) / 1000, new Date());
  }
}

async function sweep(s: Services): Promise<{ expired: number; purged: number }> {
  const now = s.clock();
  const nowIsoStr = now.toISOString();
  let expired = 0;
  for (;;) {
    const n = await s.db.transaction(async (trx) => {
      const due = await claimExpiring(trx, nowIsoStr, BATCH);
      for (const p of due) {
        await markExpired(trx, p.id);
        await emit(trx, s, { type: "package.expired", pkg: p });
      }
      return due.length;
    });
    expired += n;
    if (n < BATCH) break;
  }
  // Bytes of deleted packages and files the store did not confirm deleting yet.
  await retryBlobDeletions(s);
  const cutoff = addDays(now, -s.config.retentionDays).toISOString();

  let purged = 0;
  for (;;) {
    const n = await s.db.transaction(async (trx) => {
      const ids = await claimPurgeable(trx, cutoff, BATCH);
      for (const id of ids) {
        for (const key of await storageKeysOf(trx, id)) await s.storage.delete(key);
        await markPurged(trx, id, nowIsoStr);
      }
      return ids.length;
    });
    purged += n;
    if (n < BATCH) break;
  }
  // Partial uploads of server processes that are gone (killed, crashed) on this data dir.
  const abandonedTemp = (await s.storage.removeStaleTemp?.()) ?? 0;
  if (abandonedTemp > 0) s.logger.info({ folders: abandonedTemp }, "removed the temp folders of server processes that are gone");
  await sweepExpiredUploads(s);
  // Quota reservations of multipart uploads whose process died (a live one renews its own).
  await deleteLapsedQuotaReservations(s.db, nowIsoStr);
  await expireIdempotencyKeys(s);
  await purgeEndedSessions(s);
  // Federated tokens live an hour at most and one is minted per CI job: their rows go a day after.
  await deleteExpiredFederatedTokens(s.db, addDays(now, -1).toISOString());
  // Rate-limit counters whose window passed (the link passwords' are in the table on SQLite too).
  await deleteExpiredRateCounters(s.db, now.getTime());
  // Bytes a crash left without their row (at most once an hour: it lists the whole store). Last,
  // and on its own: a store that fails here holds up none of the work above.
  try {
    const orphans = await removeOrphanBlobsWhenDue(s);
    if (orphans > 0) s.logger.info({ orphans }, "removed stored blobs that no row refers to");
  } catch (err) {
    s.logger.warn({ err }, "could not look for stored blobs that no row refers to; the next sweep will");
  }
  if (expired > 0 || purged > 0) s.logger.info({ expired, purged }, "expiry sweep");
  return { expired, purged };
}

/** Runs sweepOnce now and every `SF_SWEEP_INTERVAL_SECONDS`; returns a stop function. */
export function startSweeper(s: Services): () => Promise<void> {
  if (s.config.sweepIntervalSeconds === 0) return async () => undefined;
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = sweepOnce(s).catch((err: unknown) => s.logger.error({ err }, "expiry sweep failed"));
  };
  const timer = setInterval(tick, s.config.sweepIntervalSeconds * 1000);
  timer.unref();
  tick();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
