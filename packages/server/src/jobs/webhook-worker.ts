import { claimDueDeliveries, disableWebhook, findWebhook, recordAttempt, updateWebhookRow, type ClaimedDelivery } from "../db/webhooks.js";
import { emit } from "../events/emit.js";
import type { Services } from "../services/context.js";
import { VERSION } from "../version.js";
import { retryDelayMs } from "../webhooks/schedule.js";
import { postWebhook } from "../webhooks/sender.js";
import { signatureHeader } from "../webhooks/signing.js";

/** Deliveries claimed (and attempted in parallel) per pass. */
const BATCH = 16;

/**
 * One pass of the delivery worker: claims the deliveries that are due (see claimDueDeliveries:
 * one process per attempt, a package's events in order), POSTs each, and records the outcome:
 * success, a retry at the next step of the schedule, or failure for good. Returns how many were
 * attempted.
 */
export async function deliverDue(s: Services): Promise<number> {
  const now = s.clock();
  const leaseUntil = new Date(now.getTime() + s.config.webhookTimeoutSeconds * 1000 + 30_000).toISOString();
  const claimed = await s.db.transaction((trx) => claimDueDeliveries(trx, now.toISOString(), leaseUntil, BATCH));
  await Promise.all(claimed.map((d) => attempt(s, d, leaseUntil)));
  return claimed.length;
}

async function attempt(s: Services, d: ClaimedDelivery, leaseUntil: string): Promise<void> {
  const sentAt = s.clock();
  const result = await postWebhook(
    d.url,
    {
      "Content-Type": "application/json",
      "User-Agent": `SpeedyFiles-Webhooks/${VERSION}`,
      "SpeedyFiles-Event": d.event_type,
      "SpeedyFiles-Delivery": d.id,
      "SpeedyFiles-Signature": signatureHeader(d.secret, d.payload, Math.floor(sentAt.getTime() / 1000)),
    },
    d.payload,
    { timeoutMs: s.config.webhookTimeoutSeconds * 1000, allowPrivate: s.config.webhookAllowPrivate },
  );
  const now = s.clock();
  const attempts = d.attempts + 1;
  const outcome = {
    attempts,
    last_status_code: result.statusCode,
    last_duration_ms: result.durationMs,
    last_error: result.error,
    response_excerpt: result.excerpt,
  };
  if (result.ok) {
    await recordAttempt(s.db, d.id, leaseUntil, { ...outcome, state: "succeeded", delivered_at: now.toISOString(), next_attempt_at: null });
    await updateWebhookRow(s.db, d.webhook_id, { failing_since: null });
    return;
  }
  const delay = retryDelayMs(s.config.webhookRetrySchedule, attempts);
  const next = delay === undefined ? null : new Date(now.getTime() + delay).toISOString();
  await recordAttempt(s.db, d.id, leaseUntil, { ...outcome, state: next ? "pending" : "failed", next_attempt_at: next });
  s.logger.info({ webhookId: d.webhook_id, deliveryId: d.id, attempts, error: result.error, nextAttemptAt: next }, "webhook delivery failed");
  await noteFailure(s, d.webhook_id, now);
}

/**
 * Remembers since when a webhook fails; once that is longer than SF_WEBHOOK_DISABLE_AFTER_HOURS
 * the webhook is disabled (its pending deliveries wait) and its owner emailed, once.
 */
async function noteFailure(s: Services, webhookId: string, now: Date): Promise<void> {
  const hook = await findWebhook(s.db, webhookId);
  if (!hook?.enabled) return;
  if (hook.failing_since === null) {
    await updateWebhookRow(s.db, webhookId, { failing_since: now.toISOString() });
    return;
  }
  const failingMs = now.getTime() - Date.parse(hook.failing_since);
  if (failingMs < s.config.webhookDisableAfterHours * 3600_000) return;
  // The owner's notice is queued with the change, once: only the process that disabled it emits.
  const disabled = await s.db.transaction(async (trx) => {
    if (!(await disableWebhook(trx, webhookId, `Every delivery failed since ${hook.failing_since}`, now.toISOString()))) return false;
    await emit(trx, s, { type: "webhook.disabled", hook, failingSince: hook.failing_since! });
    return true;
  });
  if (!disabled) return; // another process disabled it first
  s.logger.warn({ webhookId, failingSince: hook.failing_since }, "webhook disabled after failing for too long");
}

/** Runs deliverDue every SF_WEBHOOK_POLL_MS (at once again while there is more); returns a stop function. */
export function startWebhookWorker(s: Services): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = deliverDue(s).then(
      (n) => schedule(n === BATCH ? 0 : s.config.webhookPollMs),
      (err: unknown) => {
        s.logger.error({ err }, "webhook delivery pass failed");
        schedule(s.config.webhookPollMs);
      },
    );
  };
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(tick, ms);
    timer.unref();
  };
  schedule(0);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
