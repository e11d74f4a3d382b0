import type { Knex } from "knex";
import { bool, isPostgres, lockForUpdate, lockSkipLocked } from "./knex.js";

export interface WebhookRow {
  id: string;
  owner_id: string;
  url: string;
  /** The URL's origin (scheme, host, port): the key of its circuit breaker. */
  origin: string;
  /** JSON array of event types. */
  events: string;
  description: string | null;
  /** The signing secret `whsec_…`; kept as it is, since every delivery is signed with it. */
  secret: string;
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: string | null;
  created_at: string;
  updated_at: string;
}

export interface WebhookEventRow {
  seq?: number;
  id: string;
  owner_id: string;
  package_id: string | null;
  type: string;
  /** The JSON body sent, exactly. */
  payload: string;
  created_at: string;
}

export type DeliveryState = "pending" | "succeeded" | "failed";

export interface DeliveryRow {
  id: string;
  webhook_id: string;
  event_seq: number;
  package_id: string | null;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: string | null;
  lease_until: string | null;
  last_status_code: number | null;
  last_duration_ms: number | null;
  last_error: string | null;
  response_excerpt: string | null;
  created_at: string;
  delivered_at: string | null;
  redelivery_of: string | null;
}

const toWebhook = (r: WebhookRow): WebhookRow => ({ ...r, enabled: bool(r.enabled) });

/**
 * Inserts a webhook unless its owner already has `max`: false then. The owner's user row is locked
 * first (PostgreSQL; SQLite runs one transaction at a time), so creations at once are counted one
 * after the other and never pass the limit together.
 */
export async function insertWebhookWithin(db: Knex, row: WebhookRow, max: number): Promise<boolean> {
  return db.transaction(async (trx) => {
    await lockForUpdate(trx, trx("users").where({ id: row.owner_id }).first("id"));
    const [c] = await trx("webhooks").where({ owner_id: row.owner_id }).count<{ n: number | string }[]>({ n: "*" });
    if (Number(c?.n ?? 0) >= max) return false;
    await trx("webhooks").insert(row);
    return true;
  });
}

export async function findWebhook(db: Knex, id: string): Promise<WebhookRow | undefined> {
  const r = await db<WebhookRow>("webhooks").where({ id }).first();
  return r ? toWebhook(r) : undefined;
}

export async function listWebhookRows(db: Knex, ownerId: string | undefined): Promise<WebhookRow[]> {
  const q = db<WebhookRow>("webhooks").orderBy([
    { column: "created_at", order: "desc" },
    { column: "id", order: "desc" },
  ]);
  if (ownerId !== undefined) q.where({ owner_id: ownerId });
  return (await q).map(toWebhook);
}

export async function updateWebhookRow(db: Knex, id: string, patch: Partial<WebhookRow>): Promise<void> {
  await db("webhooks").where({ id }).update(patch);
}

/** Disables an enabled webhook; false when it was not enabled (any more). */
export async function disableWebhook(db: Knex, id: string, reason: string, now: string): Promise<boolean> {
  return (await db("webhooks").where({ id, enabled: true }).update({ enabled: false, disabled_reason: reason, updated_at: now })) > 0;
}

export async function deleteWebhookRow(db: Knex, id: string): Promise<void> {
  await db("webhooks").where({ id }).delete();
}

/**
 * The owner's enabled webhooks (to fan an event out to those subscribed to its type). In the
 * event's transaction on PostgreSQL the rows are held `FOR KEY SHARE` until it ends: a webhook
 * being deleted at that moment is waited for and then left out (its delivery would name a row
 * gone by the commit: a foreign-key error failing the change that emitted the event), and a
 * deletion that comes later waits for the event's deliveries, then removes them with the webhook.
 */
export async function enabledWebhooksOf(db: Knex, ownerId: string): Promise<WebhookRow[]> {
  const q = db<WebhookRow>("webhooks").where({ owner_id: ownerId }).where("enabled", true);
  return (await (isPostgres(db) ? q.forKeyShare() : q)).map(toWebhook);
}

/** Inserts an event and returns its sequence number (the order of events, per package causal). */
export async function insertWebhookEvent(db: Knex, row: WebhookEventRow): Promise<number> {
  const [r] = (await db("webhook_events").insert(row).returning("seq")) as ({ seq: number } | number)[];
  return Number(typeof r === "object" ? r.seq : r);
}

export async function findWebhookEvent(db: Knex, seq: number): Promise<WebhookEventRow | undefined> {
  return db<WebhookEventRow>("webhook_events").where({ seq }).first();
}

export async function insertDelivery(db: Knex, row: DeliveryRow): Promise<void> {
  await db("webhook_deliveries").insert(row);
}

export async function findDelivery(db: Knex, webhookId: string, id: string): Promise<(DeliveryRow & { event_id: string; event_type: string }) | undefined> {
  return db("webhook_deliveries as d")
    .join("webhook_events as e", "e.seq", "d.event_seq")
    .where({ "d.webhook_id": webhookId, "d.id": id })
    .first("d.*", "e.id as event_id", "e.type as event_type");
}

export async function listDeliveryRows(
  db: Knex,
  webhookId: string,
  page: { limit: number; offset: number },
): Promise<{ rows: (DeliveryRow & { event_id: string; event_type: string })[]; total: number }> {
  const [c] = await db("webhook_deliveries").where({ webhook_id: webhookId }).count<{ n: number | string }[]>({ n: "*" });
  const rows = await db("webhook_deliveries as d")
    .join("webhook_events as e", "e.seq", "d.event_seq")
    .where("d.webhook_id", webhookId)
    .orderBy([
      { column: "d.created_at", order: "desc" },
      { column: "d.event_seq", order: "desc" },
      { column: "d.id", order: "desc" },
    ])
    .limit(page.limit)
    .offset(page.offset)
    .select("d.*", "e.id as event_id", "e.type as event_type");
  return { rows, total: Number(c?.n ?? 0) };
}

/** A delivery claimed for one attempt, with what the attempt needs. */
export interface ClaimedDelivery extends DeliveryRow {
  url: string;
  origin: string;
  secret: string;
  owner_id: string;
  event_id: string;
  event_type: string;
  payload: string;
}

/** How many deliveries may be in flight at once (leased and not yet recorded), per webhook and per owner. */
export interface ClaimCaps {
  perWebhook: number;
  perOwner: number;
}

/** Candidates looked at per claim, per delivery asked for: enough to find other webhooks behind one with a backlog. */
const CANDIDATES_PER_SLOT = 8;

/**
 * Claims up to `limit` deliveries that are due: pending, their time come, their webhook enabled,
 * no earlier event of the same package still pending for the same webhook (so a receiver gets a
 * package's events in the order they happened), and not leased by another worker. Fair: no
 * webhook gets more than `caps.perWebhook` deliveries in flight (counting every process's leases)
 * nor an owner more than `caps.perOwner`, so a receiver that never answers holds a few slots and
 * the others keep flowing. On PostgreSQL the rows are locked with SKIP LOCKED while the lease is
 * written, so two server processes never claim the same delivery; each attempt is made by one
 * process (the caps are counted per claim: two processes claiming at the same moment may pass
 * them by a few, never the one-attempt rule).
 */
export async function claimDueDeliveries(trx: Knex, now: string, leaseUntil: string, limit: number, caps: ClaimCaps): Promise<ClaimedDelivery[]> {
  const q = trx("webhook_deliveries as d")
    .select("d.id", "d.webhook_id", "w.owner_id", "w.origin")
    .join("webhooks as w", "w.id", "d.webhook_id")
    .where("d.state", "pending")
    .where("w.enabled", true)
    .where("d.next_attempt_at", "<=", now)
    .where((w) => w.whereNull("d.lease_until").orWhere("d.lease_until", "<=", now))
    .whereNotExists(function earlier(this: Knex.QueryBuilder) {
      this.select(trx.raw("1"))
        .from("webhook_deliveries as e")
        .whereRaw("e.webhook_id = d.webhook_id")
        .whereRaw("e.package_id = d.package_id")
        .where("e.state", "pending")
        .whereRaw("e.event_seq < d.event_seq");
    })
    // A receiver whose circuit (its owner's, for its origin) is open is left alone until the
    // cool-off ends, and while the one probe after it is in flight.
    .whereNotExists(function circuitOpen(this: Knex.QueryBuilder) {
      this.select(trx.raw("1"))
        .from("webhook_circuits as c")
        .whereRaw("c.owner_id = w.owner_id")
        .whereRaw("c.origin = w.origin")
        .where((o) => o.where("c.open_until", ">", now).orWhere("c.probe_until", ">", now));
    })
    // A webhook already at its cap is left out here, or its backlog would fill every candidate.
    .whereRaw("(select count(*) from webhook_deliveries x where x.webhook_id = d.webhook_id and x.state = 'pending' and x.lease_until > ?) < ?", [now, caps.perWebhook])
    .orderBy([{ column: "d.next_attempt_at" }, { column: "d.event_seq" }])
    .limit(Math.min(limit * CANDIDATES_PER_SLOT, 500));
  // PostgreSQL: lock only the delivery rows (the join would otherwise lock the webhook too).
  const locked = isPostgres(trx) ? q.forUpdate("d").skipLocked() : lockSkipLocked(trx, q);
  const candidates = (await locked) as { id: string; webhook_id: string; owner_id: string; origin: string }[];
  if (candidates.length === 0) return [];
  // Circuits whose cool-off is over (half-open): one delivery each goes, as the probe.
  const halfOpen = new Set(
    (
      (await trx("webhook_circuits")
        .whereIn("owner_id", [...new Set(candidates.map((c) => c.owner_id))])
        .whereNotNull("open_until")
        .where("open_until", "<=", now)
        .select("owner_id", "origin")) as { owner_id: string; origin: string }[]
    ).map((c) => circuitKey(c.owner_id, c.origin)),
  );
  // What is in flight now (leased by any process), per webhook and per owner.
  const perWebhook = new Map<string, number>();
  const perOwner = new Map<string, number>();
  const leased = (await trx("webhook_deliveries as f")
    .join("webhooks as fw", "fw.id", "f.webhook_id")
    .where("f.state", "pending")
    .where("f.lease_until", ">", now)
    .groupBy("fw.id", "fw.owner_id")
    .select("fw.id as webhook_id", "fw.owner_id")
    .count({ n: "*" })) as { webhook_id: string; owner_id: string; n: number | string }[];
  for (const r of leased) {
    perWebhook.set(r.webhook_id, Number(r.n));
    perOwner.set(r.owner_id, (perOwner.get(r.owner_id) ?? 0) + Number(r.n));
  }
  const ids: string[] = [];
  const probing = new Set<string>();
  for (const c of candidates) {
    if (ids.length >= limit) break;
    const w = perWebhook.get(c.webhook_id) ?? 0;
    const o = perOwner.get(c.owner_id) ?? 0;
    if (w >= caps.perWebhook || o >= caps.perOwner) continue;
    const circuit = circuitKey(c.owner_id, c.origin);
    if (halfOpen.has(circuit)) {
      // The probe's lease is taken on the circuit row: a claim of another process that got here
      // first (its update waited for this one's row lock on PostgreSQL) finds it taken.
      halfOpen.delete(circuit);
      const probe = await trx("webhook_circuits")
        .where({ owner_id: c.owner_id, origin: c.origin })
        .where("open_until", "<=", now)
        .where((p) => p.whereNull("probe_until").orWhere("probe_until", "<=", now))
        .update({ probe_until: leaseUntil });
      probing.add(circuit);
      if (probe === 0) continue;
    } else if (probing.has(circuit)) continue;
    perWebhook.set(c.webhook_id, w + 1);
    perOwner.set(c.owner_id, o + 1);
    ids.push(c.id);
  }
  if (ids.length === 0) return [];
  await trx("webhook_deliveries").whereIn("id", ids).update({ lease_until: leaseUntil });
  return trx("webhook_deliveries as d")
    .join("webhooks as w", "w.id", "d.webhook_id")
    .join("webhook_events as e", "e.seq", "d.event_seq")
    .whereIn("d.id", ids)
    .orderBy("d.event_seq")
    .select("d.*", "w.url", "w.origin", "w.secret", "w.owner_id", "e.id as event_id", "e.type as event_type", "e.payload");
}

/** Records one attempt's outcome (only while this worker's lease is still the one on the row). */
export async function recordAttempt(db: Knex, id: string, leaseUntil: string, patch: Partial<DeliveryRow>): Promise<boolean> {
  return (
    (await db("webhook_deliveries")
      .where({ id, lease_until: leaseUntil })
      .update({ ...patch, lease_until: null })) > 0
  );
}

/**
 * One owner's circuit for one receiver origin: failed attempts in a row, how often it opened since
 * it last worked, until when it is open, and the lease of the one probe let through after it.
 */
export interface CircuitRow {
  owner_id: string;
  origin: string;
  failures: number;
  trips: number;
  open_until: string | null;
  probe_until: string | null;
}

/** Counts one failed attempt of `ownerId`'s to `origin` (one atomic upsert) and answers the circuit as it now is. */
export async function countCircuitFailure(db: Knex, ownerId: string, origin: string): Promise<CircuitRow> {
  const res = (await db.raw(
    `insert into webhook_circuits (owner_id, origin, failures, trips, open_until, probe_until) values (?, ?, 1, 0, null, null)
     on conflict (owner_id, origin) do update set failures = webhook_circuits.failures + 1
     returning owner_id, origin, failures, trips, open_until, probe_until`,
    [ownerId, origin],
  )) as { rows: CircuitRow[] } | CircuitRow[];
  const r = (Array.isArray(res) ? res : res.rows)[0]!;
  return { ...r, failures: Number(r.failures), trips: Number(r.trips) };
}

/**
 * Opens the circuit until `openUntil` (and ends its probe), unless another process opened it
 * since `trips` was read: false then.
 */
export async function openCircuit(db: Knex, ownerId: string, origin: string, trips: number, openUntil: string): Promise<boolean> {
  return (
    (await db("webhook_circuits")
      .where({ owner_id: ownerId, origin, trips })
      .update({ trips: trips + 1, open_until: openUntil, probe_until: null })) > 0
  );
}

/** A delivery of `ownerId`'s to `origin` was answered: the circuit is closed and forgotten. */
export async function closeCircuit(db: Knex, ownerId: string, origin: string): Promise<void> {
  await db("webhook_circuits").where({ owner_id: ownerId, origin }).delete();
}

/** The key of a circuit in the maps below. */
export function circuitKey(ownerId: string, origin: string): string {
  return `${ownerId} ${origin}`;
}

/** Until when each of `hooks`' circuits (its owner's, for its origin) is open, for those open at `now`, by circuitKey. */
export async function openCircuits(db: Knex, hooks: { owner_id: string; origin: string }[], now: string): Promise<Map<string, string>> {
  if (hooks.length === 0) return new Map();
  const rows = (await db("webhook_circuits")
    .whereIn("owner_id", [...new Set(hooks.map((h) => h.owner_id))])
    .whereIn("origin", [...new Set(hooks.map((h) => h.origin))])
    .where("open_until", ">", now)
    .select("owner_id", "origin", "open_until")) as {
    owner_id: string;
    origin: string;
    open_until: string;
  }[];
  return new Map(rows.map((r) => [circuitKey(r.owner_id, r.origin), r.open_until]));
}

/** Deliveries not yet sent or given up (due now or waiting for a retry): how many, and when the oldest was made. */
export async function webhookQueueStats(db: Knex): Promise<{ depth: number; oldest: string | null }> {
  const r = (await db("webhook_deliveries").where({ state: "pending" }).first(db.raw("count(*) as n"), db.raw("min(created_at) as oldest"))) as
    | { n: number | string; oldest: string | null }
    | undefined;
  return { depth: Number(r?.n ?? 0), oldest: r?.oldest ?? null };
}
