import type { Knex } from "knex";
import { isPostgres } from "../db/knex.js";
import { addDays, type Services } from "./context.js";

const BATCH = 50;

/**
 * One pass: marks active packages past `expires_at` as expired, then deletes the stored bytes of
 * expired and revoked packages once `SF_RETENTION_DAYS` have passed (0: at once), recording
 * `purged_at`. Safe with several instances on PostgreSQL: each package is claimed with
 * `FOR UPDATE SKIP LOCKED`, so two sweepers never work on the same one, and the bytes are deleted
 * before the claim commits (a crash in between only means the next pass deletes them again).
 */
export async function sweepOnce(s: Services): Promise<{ expired: number; purged: number }> {
  const now = s.clock();
  const nowIsoStr = now.toISOString();
  const expired = await s.db("packages").where("status", "active").where("expires_at", "<=", nowIsoStr).update({ status: "expired" });

  const cutoff = addDays(now, -s.config.retentionDays).toISOString();
  const due = (q: Knex.QueryBuilder) =>
    q
      .whereNull("purged_at")
      .where((w) =>
        w
          .where((a) => a.where("status", "expired").where("expires_at", "<=", cutoff))
          .orWhere((a) => a.where("status", "revoked").where("revoked_at", "<=", cutoff)),
      );

  let purged = 0;
  for (;;) {
    const n = await s.db.transaction(async (trx) => {
      let q = due(trx("packages").select("id")).orderBy("id").limit(BATCH);
      if (isPostgres(s.db)) q = q.forUpdate().skipLocked();
      const rows = (await q) as { id: string }[];
      for (const { id } of rows) {
        const files = (await trx("files").where({ package_id: id }).select("storage_key")) as { storage_key: string }[];
        for (const f of files) await s.storage.delete(f.storage_key);
        await trx("packages").where({ id }).update({ purged_at: nowIsoStr });
      }
      return rows.length;
    });
    purged += n;
    if (n < BATCH) break;
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
