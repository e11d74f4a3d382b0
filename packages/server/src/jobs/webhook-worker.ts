import {
  claimDueDeliveries,
  closeCircuit,
  countCircuitFailure,
  disableWebhook,
  openCircuit,
  findWebhook,
  recordAttempt,
  updateWebhookRow,
  type ClaimCaps,
  type ClaimedDelivery,
} from "../db/webhooks.js";
import { emit } from "../events/emit.js";
import type { Services } from "../services/context.js";
import { VERSION } from "../version.js";
import { allowListFor } from "../webhooks/addresses.js";
import { coolOffMs } from "../webhooks/circuit.js";
import { retryDelayMs } from "../webhooks/schedule.js";
import { postWebhook } from "../webhooks/sender.js";
import { signatureHeader } from "../webhooks/signing.js";

/** Deliveries one process attempts at once. */
export const POOL_SIZE = 16;
/**
 * In flight at once per webhook and per owner (over every process): a receiver that never answers
 * holds at most two slots, one user's at most four, and the other users' events keep flowing.
 */
export const CAPS: ClaimCaps = { perWebhook: 2, perOwner: 4 };

/** Claims up to `max` due deliveries (fairly, see claimDueDeliveries), with the lease they were claimed under. */
async function claim(s: Services, max: number): Promise<{ claimed: ClaimedDelivery[]; leaseUntil: string }> {
  const now = s.clock();
  const leaseUntil = new Date(now.getTime() + s.config.webhookTimeoutSeconds * 1000 + 30_000).toISOString();
  const claimed = await s.db.transaction((trx) => claimDueDeliveries(trx, now.toISOString(), leaseUntil, max, CAPS));
  return { claimed, leaseUntil };
}

/**
 * One pass, for tests and tools: claims what is due (up to POOL_SIZE, within the caps), POSTs
 * each, records the outcomes, and returns how many were attempted. The running worker
 * (startWebhookWorker) does not wait for a pass: it keeps its slots busy.
 */
export async function deliverDue(s: Services): Promise<number> {
  const { claimed, leaseUntil } = await claim(s, POOL_SIZE);
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
    { timeoutMs: s.config.webhookTimeoutSeconds * 1000, allow: allowListFor(s.config.webhookAllowHosts) },
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
    await closeCircuit(s.db, d.owner_id, d.origin);
    return;
  }
  // A timeout, a connection that failed or a 5xx says the receiver is unwell; any other answer
  // (a 4xx, a 3xx we do not follow) is its clear word on this request: it is up, and the circuit
  // closes. Either way the delivery itself failed and is retried.
  if (trips(result.statusCode)) await noteCircuitFailure(s, d.owner_id, d.origin, now);
  else await closeCircuit(s.db, d.owner_id, d.origin);
  const delay = retryDelayMs(s.config.webhookRetrySchedule, attempts);
  const next = delay === undefined ? null : new Date(now.getTime() + delay).toISOString();
  await recordAttempt(s.db, d.id, leaseUntil, { ...outcome, state: next ? "pending" : "failed", next_attempt_at: next });
  s.logger.info({ webhookId: d.webhook_id, deliveryId: d.id, attempts, error: result.error, nextAttemptAt: next }, "webhook delivery failed");
  await noteFailure(s, d.webhook_id, now);
}

/** Whether an attempt's outcome counts against the circuit: no answer (timeout, connection error; null) or a 5xx. */
function trips(statusCode: number | null): boolean {
  return statusCode === null || statusCode >= 500;
}

/**
 * Counts a failed attempt against its owner's circuit for the receiver's origin; at
 * SF_WEBHOOK_CIRCUIT_FAILURES in a row the circuit opens: none of that owner's deliveries to that
 * origin is claimed (they wait, their retries unspent) until the cool-off ends. Then one delivery
 * goes as the probe, the others still wait (claimDueDeliveries): its success closes the circuit, a
 * failure opens it again for twice as long (webhooks/circuit.ts). Keyed by owner, so one user's
 * broken receiver never pauses another user's deliveries to the same host.
 */
async function noteCircuitFailure(s: Services, ownerId: string, origin: string, now: Date): Promise<void> {
  const c = await countCircuitFailure(s.db, ownerId, origin);
  if (c.failures < s.config.webhookCircuitFailures) return;
  if (c.open_until !== null && c.open_until > now.toISOString()) return; // open already
  const openUntil = new Date(now.getTime() + coolOffMs(s.config.webhookCircuitSeconds, c.trips + 1)).toISOString();
  if (await openCircuit(s.db, ownerId, origin, c.trips, openUntil)) {
    s.logger.warn({ ownerId, origin, failures: c.failures, openUntil }, "webhook receiver keeps failing: this owner's deliveries to it wait until the cool-off ends");
  }
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

/**
 * The delivery worker: a pool of POOL_SIZE slots. Whenever a slot frees (an attempt ended), and
 * every SF_WEBHOOK_POLL_MS, it claims as many due deliveries as slots are free and starts them,
 * so one slow receiver never makes the others wait for it. Returns a stop function, which waits
 * for the attempts in flight.
 */
export function startWebhookWorker(s: Services): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<void>>();
  let filling: Promise<void> | undefined;
  let again = false;

  const start = (d: ClaimedDelivery, leaseUntil: string) => {
    const p: Promise<void> = attempt(s, d, leaseUntil)
      .catch((err: unknown) => s.logger.error({ err, deliveryId: d.id }, "webhook delivery failed to record"))
      .finally(() => {
        inFlight.delete(p);
        fill();
      });
    inFlight.add(p);
  };

  const fillOnce = async () => {
    do {
      again = false;
      const free = POOL_SIZE - inFlight.size;
      if (free <= 0 || stopped) return;
      const { claimed, leaseUntil } = await claim(s, free);
      for (const d of claimed) start(d, leaseUntil);
      // A full claim: more may be due at once. Otherwise the next is when a slot frees or the poll.
      if (claimed.length === free) again = true;
    } while (again && !stopped);
  };

  /** Claims for the free slots; a call while a claim runs makes it look again when done. */
  function fill(): void {
    if (stopped) return;
    if (filling) {
      again = true;
      return;
    }
    filling = fillOnce()
      .catch((err: unknown) => s.logger.error({ err }, "webhook delivery pass failed"))
      .finally(() => {
        filling = undefined;
        if (stopped) return;
        clearTimeout(timer);
        timer = setTimeout(fill, s.config.webhookPollMs);
        timer.unref();
      });
  }

  fill();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await filling;
    await Promise.allSettled([...inFlight]);
  };
}
