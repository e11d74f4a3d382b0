import crypto from "node:crypto";
import type { components } from "../generated/api.js";
import { ApiError, Conflict, NotFound, ValidationFailed } from "../errors.js";
import {
  deleteWebhookRow,
  findDelivery,
  findWebhook,
  findWebhookEvent,
  insertDelivery,
  insertWebhookWithin,
  listDeliveryRows,
  listWebhookRows,
  openCircuits,
  circuitKey,
  updateWebhookRow,
  type DeliveryRow,
  type WebhookRow,
} from "../db/webhooks.js";
import { incrementRateCounter } from "../db/rate-limits.js";
import { sha256Hex } from "../security/secrets.js";
import { generateWebhookSecret } from "../webhooks/signing.js";
import { checkWebhookUrl } from "../webhooks/sender.js";
import { allowListFor } from "../webhooks/addresses.js";
import { subscribedTo } from "../webhooks/outbox.js";
import { emit } from "../events/emit.js";
import { cleanOptionalText } from "./text.js";
import { canonicalId } from "./users.js";
import type { Principal, Services } from "./context.js";
import { authorize, webhookListScope } from "../policies/index.js";

type Schemas = components["schemas"];
export type Webhook = Schemas["Webhook"];
export type WebhookDelivery = Schemas["WebhookDelivery"];

/** The API's view of a webhook; `circuits` are the open circuits by owner and origin (openCircuits). */
function toWebhook(r: WebhookRow, circuits: Map<string, string> = new Map()): Webhook {
  return {
    id: r.id,
    url: r.url,
    events: subscribedTo(r),
    description: r.description,
    enabled: r.enabled,
    disabled_reason: r.disabled_reason,
    failing_since: r.failing_since,
    circuit_open_until: circuits.get(circuitKey(r.owner_id, r.origin)) ?? null,
    owner_id: r.owner_id,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

function toDelivery(d: DeliveryRow & { event_id: string; event_type: string }): WebhookDelivery {
  return {
    id: d.id,
    webhook_id: d.webhook_id,
    event_id: d.event_id,
    event_type: d.event_type as WebhookDelivery["event_type"],
    state: d.state,
    attempts: d.attempts,
    last_status_code: d.last_status_code,
    last_duration_ms: d.last_duration_ms,
    last_error: d.last_error,
    response_excerpt: d.response_excerpt,
    next_attempt_at: d.state === "pending" ? d.next_attempt_at : null,
    created_at: d.created_at,
    delivered_at: d.delivered_at,
    redelivery_of: d.redelivery_of,
  };
}

/**
 * A URL a webhook may use: http(s), and not a private address or a name for this machine unless
 * SF_WEBHOOK_ALLOW_HOSTS names it. A name's DNS answer is checked at each delivery, on the address
 * connected to (webhooks/sender.ts): checking it here too would only tell a user what internal
 * names resolve to, and DNS may answer differently later anyway.
 */
async function checkUrl(s: Services, raw: string): Promise<{ url: string; origin: string }> {
  const checked = checkWebhookUrl(raw.trim(), allowListFor(s.config.webhookAllowHosts));
  if (!checked.ok) throw new ValidationFailed(checked.reason, "/body/url", "webhook_url_forbidden");
  return { url: checked.url.toString(), origin: checked.url.origin };
}

/** Until when each of `hooks`' circuits (its owner's, for its origin) is open (those open now). */
function circuitsOf(s: Services, hooks: WebhookRow[]): Promise<Map<string, string>> {
  return openCircuits(s.db, hooks, s.clock().toISOString());
}

/** The webhook, if the caller may read or change it (policies/webhooks.ts: its owner, or an admin); unknown is 404. */
async function manageable(s: Services, user: Principal, rawId: string, action: "webhook.read" | "webhook.write"): Promise<WebhookRow> {
  const hook = await findWebhook(s.db, canonicalId(rawId));
  if (!hook) throw new NotFound("webhook_not_found", "Webhook not found");
  authorize(user, action, hook);
  return hook;
}

/** `POST /webhooks`: registers a URL; the signing secret is in this answer only. */
export async function createWebhook(s: Services, user: Principal, input: Schemas["WebhookCreateRequest"]): Promise<Schemas["WebhookCreated"]> {
  authorize(user, "webhook.create");
  const now = s.clock().toISOString();
  const row: WebhookRow = {
    id: crypto.randomUUID(),
    owner_id: user.userId,
    ...(await checkUrl(s, input.url)),
    events: JSON.stringify([...new Set(input.events)]),
    description: cleanOptionalText(input.description, "/body/description"),
    secret: generateWebhookSecret(),
    enabled: true,
    disabled_reason: null,
    failing_since: null,
    created_at: now,
    updated_at: now,
  };
  if (!(await insertWebhookWithin(s.db, row, s.config.webhooksPerUserMax))) {
    throw new Conflict("webhook_limit", `You have ${s.config.webhooksPerUserMax} webhooks, as many as this server allows; remove one first`);
  }
  return { ...toWebhook(row, await circuitsOf(s, [row])), secret: row.secret };
}

/** `GET /webhooks`: the caller's, or with `all` (admins only) everyone's. */
export async function listWebhooks(s: Services, user: Principal, opts: { all?: boolean | undefined }): Promise<Webhook[]> {
  const rows = await listWebhookRows(s.db, webhookListScope(user, opts.all === true).ownerId);
  const circuits = await circuitsOf(s, rows);
  return rows.map((r) => toWebhook(r, circuits));
}

/** `GET /webhooks/{id}`. */
export async function getWebhook(s: Services, user: Principal, id: string): Promise<Webhook> {
  const hook = await manageable(s, user, id, "webhook.read");
  return toWebhook(hook, await circuitsOf(s, [hook]));
}

/** `PATCH /webhooks/{id}`. Enabling a webhook that was disabled for failing clears its record. */
export async function updateWebhook(s: Services, user: Principal, id: string, input: Schemas["WebhookUpdateRequest"]): Promise<Webhook> {
  const hook = await manageable(s, user, id, "webhook.write");
  const patch: Partial<WebhookRow> = { updated_at: s.clock().toISOString() };
  if (input.url !== undefined) Object.assign(patch, await checkUrl(s, input.url));
  if (input.events !== undefined) patch.events = JSON.stringify([...new Set(input.events)]);
  if (input.description !== undefined) patch.description = input.description === null ? null : cleanOptionalText(input.description, "/body/description");
  if (input.enabled !== undefined) {
    patch.enabled = input.enabled;
    if (input.enabled) {
      patch.disabled_reason = null;
      patch.failing_since = null;
    }
  }
  await updateWebhookRow(s.db, hook.id, patch);
  const updated = { ...hook, ...patch };
  return toWebhook(updated, await circuitsOf(s, [updated]));
}

/** `DELETE /webhooks/{id}`: with its deliveries. */
export async function deleteWebhook(s: Services, user: Principal, id: string): Promise<void> {
  await deleteWebhookRow(s.db, (await manageable(s, user, id, "webhook.write")).id);
}

/** Test pings one user may send a minute, over all their webhooks (the API and the pages together). */
export const PINGS_PER_MINUTE = 10;

/**
 * Each ping is a request the server makes to a URL its user chose: counted per user in the shared
 * rate-limit counters (every process on PostgreSQL counts toward one limit), one atomic increment
 * before the ping is queued, so pings at once cannot pass the limit together. 429 past it.
 */
async function countPing(s: Services, userId: string): Promise<void> {
  const now = s.clock().getTime();
  const counter = await incrementRateCounter(s.db, sha256Hex(`webhook-test:${userId}`), now, 60_000);
  if (counter.hits <= PINGS_PER_MINUTE) return;
  const retryAfter = Math.max(1, Math.ceil((counter.resetAt - now) / 1000));
  throw new ApiError(429, "rate_limited", `At most ${PINGS_PER_MINUTE} test pings a minute; try again in ${retryAfter} s`, { headers: { "Retry-After": String(retryAfter) } });
}

/** `POST /webhooks/{id}/test`: a `ping`, delivered like any event (even to a disabled webhook's log; it waits until enabled). */
export async function testWebhook(s: Services, user: Principal, id: string): Promise<WebhookDelivery> {
  const hook = await manageable(s, user, id, "webhook.write");
  await countPing(s, user.userId);
  const { webhookDeliveryIds } = await s.db.transaction((trx) => emit(trx, s, { type: "webhook.ping", hook }));
  return toDelivery((await findDelivery(s.db, hook.id, webhookDeliveryIds[0]!))!);
}

/** `GET /webhooks/{id}/deliveries`. */
export async function listWebhookDeliveries(s: Services, user: Principal, id: string, page: { page: number; perPage: number }): Promise<Schemas["WebhookDeliveryList"]> {
  const hook = await manageable(s, user, id, "webhook.read");
  const { rows, total } = await listDeliveryRows(s.db, hook.id, { limit: page.perPage, offset: (page.page - 1) * page.perPage });
  return { items: rows.map(toDelivery), total, page: page.page, per_page: page.perPage };
}

/** `POST /webhooks/{id}/deliveries/{delivery_id}/redeliver`: the same event (and body), as a new delivery sent now. */
export async function redeliverWebhookDelivery(s: Services, user: Principal, id: string, deliveryId: string): Promise<WebhookDelivery> {
  const hook = await manageable(s, user, id, "webhook.write");
  const old = await findDelivery(s.db, hook.id, canonicalId(deliveryId));
  if (!old) throw new NotFound("delivery_not_found", "Delivery not found");
  if (!(await findWebhookEvent(s.db, old.event_seq))) throw new ApiError(404, "delivery_not_found", "The delivery's event is gone");
  const now = s.clock().toISOString();
  const row: DeliveryRow = {
    id: crypto.randomUUID(),
    webhook_id: hook.id,
    event_seq: old.event_seq,
    package_id: old.package_id,
    state: "pending",
    attempts: 0,
    next_attempt_at: now,
    lease_until: null,
    last_status_code: null,
    last_duration_ms: null,
    last_error: null,
    response_excerpt: null,
    created_at: now,
    delivered_at: null,
    redelivery_of: old.id,
  };
  await insertDelivery(s.db, row);
  return toDelivery({ ...row, event_id: old.event_id, event_type: old.event_type });
}
