import type { Knex } from "knex";
import { isPostgres } from "./knex.js";

export type MailKind = "package_link" | "upload_notice" | "download_receipt" | "downloads_used_up" | "webhook_disabled" | "password_reset";
export type MailState = "queued" | "sent" | "failed" | "cancelled";

export interface MailRow {
  id: string;
  kind: MailKind;
  recipient: string;
  package_id: string | null;
  link_id: string | null;
  state: MailState;
  /** The server key that sealed `body` (null once the body is wiped). */
  key_id: string | null;
  /** The sealed message (mail/sealing.ts); null once sent, given up or cancelled. */
  body: string | null;
  attempts: number;
  next_attempt_at: string | null;
  lease_until: string | null;
  last_attempt_at: string | null;
  last_error: string | null;
  created_at: string;
  sent_at: string | null;
  failed_at: string | null;
}

/** What a finished (or cancelled) message keeps: its metadata, never its body. */
const WIPED = { body: null, key_id: null, next_attempt_at: null } as const;

export async function insertMail(db: Knex, row: MailRow): Promise<void> {
  await db("mail_outbox").insert(row);
}

/**
 * A newer link email for the same link replaces the queued ones (their link no longer works):
 * they are cancelled and their bodies wiped, also one under an attempt right now (its lease is
 * left as it is: an attempt that fails is recorded without making it due again; one that
 * succeeds records that it was sent).
 */
export async function cancelQueuedLinkMail(db: Knex, linkId: string): Promise<void> {
  await db("mail_outbox")
    .where({ link_id: linkId, kind: "package_link", state: "queued" })
    .update({ ...WIPED, state: "cancelled" });
}

/**
 * A newer password reset email to the same address replaces the queued ones (their link no longer
 * works), as cancelQueuedLinkMail does for a link.
 */
export async function cancelQueuedResetMail(db: Knex, recipient: string): Promise<void> {
  await db("mail_outbox")
    .where({ recipient, kind: "password_reset", state: "queued" })
    .update({ ...WIPED, state: "cancelled" });
}

export async function findMail(db: Knex, id: string): Promise<MailRow | undefined> {
  return db<MailRow>("mail_outbox").where({ id }).first();
}

/** The latest link email of each link of a package (by link id). */
export async function latestLinkMail(db: Knex, packageId: string): Promise<Map<string, MailRow>> {
  const rows = await db<MailRow>("mail_outbox")
    .where({ package_id: packageId, kind: "package_link" })
    .whereNot("state", "cancelled")
    .orderBy([{ column: "created_at" }, { column: "id" }]);
  const out = new Map<string, MailRow>();
  for (const r of rows) if (r.link_id) out.set(r.link_id, r);
  return out;
}

/**
 * Claims up to `limit` queued messages that are due and sealed with key `keyId`, until
 * `leaseUntil`. On PostgreSQL the rows are locked with SKIP LOCKED while the lease is written,
 * so two server processes never claim the same message (each attempt is made by one process);
 * SQLite has one process (the instance lock) and one connection, so the transaction suffices.
 */
export async function claimDueMail(trx: Knex, now: string, leaseUntil: string, keyId: string, limit: number): Promise<MailRow[]> {
  const q = trx("mail_outbox")
    .select("id")
    .where({ state: "queued", key_id: keyId })
    .where("next_attempt_at", "<=", now)
    .where((w) => w.whereNull("lease_until").orWhere("lease_until", "<=", now))
    .orderBy([{ column: "next_attempt_at" }, { column: "created_at" }])
    .limit(limit);
  const ids = ((await (isPostgres(trx) ? q.forUpdate().skipLocked() : q)) as { id: string }[]).map((r) => r.id);
  if (ids.length === 0) return [];
  await trx("mail_outbox").whereIn("id", ids).update({ lease_until: leaseUntil });
  return trx<MailRow>("mail_outbox").whereIn("id", ids).orderBy("created_at");
}

/** Records an attempt that sent the message: its body is wiped. False when the lease was lost. */
export async function markMailSent(db: Knex, id: string, leaseUntil: string, p: { attempts: number; at: string }): Promise<boolean> {
  const n = await db("mail_outbox")
    .where({ id, lease_until: leaseUntil })
    .update({ ...WIPED, state: "sent", attempts: p.attempts, last_attempt_at: p.at, sent_at: p.at, last_error: null, lease_until: null });
  return n > 0;
}

/** Records a failed attempt: a retry at `nextAt`, or (null) given up, its body wiped. False when the lease was lost. */
export async function markMailFailedAttempt(db: Knex, id: string, leaseUntil: string, p: { attempts: number; at: string; error: string; nextAt: string | null }): Promise<boolean> {
  const common = { attempts: p.attempts, last_attempt_at: p.at, last_error: p.error.slice(0, 300), lease_until: null };
  const patch = p.nextAt === null ? { ...common, ...WIPED, state: "failed", failed_at: p.at } : { ...common, next_attempt_at: p.nextAt };
  // A message cancelled meanwhile stays cancelled.
  return (await db("mail_outbox").where({ id, lease_until: leaseUntil, state: "queued" }).update(patch)) > 0;
}

/**
 * Gives up queued messages created before `cutoff`: failed, their bodies wiped. Returns how many.
 * A message sealed with this process's key `keyId` is always tried once first (a clock that
 * jumped, or a process that was down for days, does not drop mail unseen); one sealed with
 * another key may have no process left to send it.
 */
export async function giveUpStaleMail(db: Knex, cutoff: string, now: string, keyId: string): Promise<number> {
  return db("mail_outbox")
    .where({ state: "queued" })
    .where("created_at", "<=", cutoff)
    .where((w) => w.where("attempts", ">", 0).orWhereNot("key_id", keyId))
    .where((w) => w.whereNull("lease_until").orWhere("lease_until", "<=", now))
    .update({
      ...WIPED,
      state: "failed",
      failed_at: now,
      lease_until: null,
      last_error: db.raw("coalesce(last_error, ?)", ["not sent in time (SF_MAIL_GIVE_UP_HOURS)"]),
    });
}

/** When the next queued message sealed with `keyId` is due (undefined: none). */
export async function nextMailDue(db: Knex, keyId: string): Promise<string | undefined> {
  const r = (await db("mail_outbox").where({ state: "queued", key_id: keyId }).min({ at: "next_attempt_at" }).first()) as { at: string | null } | undefined;
  return r?.at ?? undefined;
}

/** Queued messages (of every process's key): how many, and when the oldest was queued (null: none). */
export async function mailQueueStats(db: Knex): Promise<{ depth: number; oldest: string | null }> {
  const r = (await db("mail_outbox").where({ state: "queued" }).first(db.raw("count(*) as n"), db.raw("min(created_at) as oldest"))) as
    | { n: number | string; oldest: string | null }
    | undefined;
  return { depth: Number(r?.n ?? 0), oldest: r?.oldest ?? null };
}
