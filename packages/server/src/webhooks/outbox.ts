import crypto from "node:crypto";
import type { Knex } from "knex";
import type { components } from "../generated/api.js";
import { enabledWebhooksOf, insertDelivery, insertWebhookEvent, type WebhookRow } from "../db/webhooks.js";

export type WebhookEventType = components["schemas"]["WebhookEventType"];
export type WebhookEvent = components["schemas"]["WebhookEvent"];

/** The event types a webhook is subscribed to. */
export function subscribedTo(hook: Pick<WebhookRow, "events">): WebhookEventType[] {
  return JSON.parse(hook.events) as WebhookEventType[];
}

/**
 * Writes an event into the outbox with one pending delivery per enabled webhook of `ownerId`
 * subscribed to its type, in the transaction `trx` of the change that caused it: the event exists
 * exactly when the change does. Nothing is written when nobody listens. The worker
 * (jobs/webhook-worker.ts) sends the deliveries; services call it through `emit` (events/).
 */
export async function emitEvent(
  trx: Knex,
  now: Date,
  e: {
    ownerId: string;
    packageId: string | null;
    type: WebhookEventType;
    /** The event's data, or how to get it: only asked for when some webhook listens. */
    data: WebhookEvent["data"] | (() => Promise<WebhookEvent["data"]>);
    only?: WebhookRow;
  },
): Promise<{ eventId: string; deliveryIds: string[] }> {
  const hooks = e.only ? [e.only] : (await enabledWebhooksOf(trx, e.ownerId)).filter((h) => subscribedTo(h).includes(e.type));
  const id = crypto.randomUUID();
  if (hooks.length === 0) return { eventId: id, deliveryIds: [] };
  const created_at = now.toISOString();
  const event: WebhookEvent = { id, type: e.type, created_at, data: typeof e.data === "function" ? await e.data() : e.data };
  const seq = await insertWebhookEvent(trx, { id, owner_id: e.ownerId, package_id: e.packageId, type: e.type, payload: JSON.stringify(event), created_at });
  const deliveryIds: string[] = [];
  for (const hook of hooks) {
    const deliveryId = crypto.randomUUID();
    deliveryIds.push(deliveryId);
    await insertDelivery(trx, {
      id: deliveryId,
      webhook_id: hook.id,
      event_seq: seq,
      package_id: e.packageId,
      state: "pending",
      attempts: 0,
      next_attempt_at: created_at,
      lease_until: null,
      last_status_code: null,
      last_duration_ms: null,
      last_error: null,
      response_excerpt: null,
      created_at,
      delivered_at: null,
      redelivery_of: null,
    });
  }
  return { eventId: id, deliveryIds };
}
