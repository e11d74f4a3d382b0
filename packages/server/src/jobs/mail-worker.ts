import { claimDueMail, giveUpStaleMail, markMailFailedAttempt, markMailSent, nextMailDue, type MailRow } from "../db/mail-outbox.js";
import { mailErrorSummary, type MailMessage } from "../mail/mailer.js";
import { unseal } from "../mail/sealing.js";
import type { Config } from "../config.js";
import type { Services } from "../services/context.js";

/** Messages claimed (and sent in parallel) per pass. */
const BATCH = 8;

/**
 * How long a claimed message is this worker's: longer than nodemailer's connection, greeting and
 * socket timeouts together (mail/mailer.ts), so a message is never sent by two processes.
 */
const LEASE_MS = 5 * 60_000;

/**
 * The delay before the retry that follows failed attempt number `attempts` (1 = the first):
 * SF_MAIL_RETRY_BASE_SECONDS, doubled after each failure, at most SF_MAIL_RETRY_MAX_SECONDS.
 */
export function mailRetryDelayMs(config: Pick<Config, "mailRetryBaseSeconds" | "mailRetryMaxSeconds">, attempts: number): number {
  const seconds = Math.min(config.mailRetryBaseSeconds * 2 ** Math.max(0, attempts - 1), config.mailRetryMaxSeconds);
  return Math.round(seconds * 1000);
}

/**
 * One pass of the mail worker: gives up messages queued longer than SF_MAIL_GIVE_UP_HOURS,
 * claims the due ones this process can open (sealed with its key), sends each and records the
 * attempt: sent (the body wiped), a retry after the backoff, or failed for good (the body wiped)
 * after SF_MAIL_MAX_ATTEMPTS. Returns how many were attempted.
 */
export async function sendDueMail(s: Services): Promise<number> {
  const now = s.clock();
  const cutoff = new Date(now.getTime() - s.config.mailGiveUpHours * 3_600_000).toISOString();
  const stale = await giveUpStaleMail(s.db, cutoff, now.toISOString(), s.sealingKey.id);
  if (stale > 0) s.logger.warn({ messages: stale }, "gave up emails not sent within SF_MAIL_GIVE_UP_HOURS");
  const leaseUntil = new Date(now.getTime() + LEASE_MS).toISOString();
  const claimed = await s.db.transaction((trx) => claimDueMail(trx, now.toISOString(), leaseUntil, s.sealingKey.id, BATCH));
  await Promise.all(claimed.map((m) => attempt(s, m, leaseUntil)));
  return claimed.length;
}

async function attempt(s: Services, m: MailRow, leaseUntil: string): Promise<void> {
  const attempts = m.attempts + 1;
  let message: MailMessage | undefined;
  let error: string | undefined;
  try {
    message = JSON.parse(unseal(s.sealingKey, m.body ?? "", m.id)) as MailMessage;
  } catch {
    error = "the queued message could not be opened with this server's key";
  }
  if (message) {
    try {
      await s.mailer.send(message);
    } catch (err) {
      error = mailErrorSummary(err);
    }
  }
  const at = s.clock();
  const log = { mailId: m.id, kind: m.kind, packageId: m.package_id, linkId: m.link_id, attempts };
  if (error === undefined) {
    if (!(await markMailSent(s.db, m.id, leaseUntil, { attempts, at: at.toISOString() }))) s.logger.warn(log, "an email was sent after its lease ended");
    return;
  }
  const giveUp = !message || attempts >= s.config.mailMaxAttempts || at.getTime() - Date.parse(m.created_at) >= s.config.mailGiveUpHours * 3_600_000;
  const nextAt = giveUp ? null : new Date(at.getTime() + mailRetryDelayMs(s.config, attempts)).toISOString();
  await markMailFailedAttempt(s.db, m.id, leaseUntil, { attempts, at: at.toISOString(), error, nextAt });
  if (giveUp) s.logger.error({ ...log, reason: error }, "gave up sending an email");
  else s.logger.warn({ ...log, reason: error, nextAttemptAt: nextAt }, "could not send an email; will retry");
}

/**
 * Runs sendDueMail at once when this process queued mail (`s.mailWakeup`, after the commit), when
 * the next retry is due, and at least every SF_MAIL_POLL_MS (for mail queued by other
 * processes); returns a stop function that waits for the pass under way.
 */
export function startMailWorker(s: Services): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  const pass = async (): Promise<number> => {
    const n = await sendDueMail(s);
    if (n === BATCH || again) return 0;
    const next = await nextMailDue(s.db, s.sealingKey.id);
    const untilNext = next === undefined ? Infinity : Math.max(0, Date.parse(next) - s.clock().getTime());
    return Math.min(untilNext, s.config.mailPollMs);
  };
  const tick = () => {
    again = false;
    running = pass()
      .catch((err: unknown) => {
        s.logger.error({ err }, "mail pass failed");
        return s.config.mailPollMs;
      })
      .then((ms) => {
        running = undefined;
        schedule(again ? 0 : ms);
      });
  };
  const schedule = (ms: number) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(tick, ms);
    timer.unref();
  };
  const off = s.mailWakeup.on(() => {
    if (running) again = true;
    else schedule(0);
  });
  schedule(0);
  return async () => {
    stopped = true;
    off();
    clearTimeout(timer);
    await running;
  };
}
