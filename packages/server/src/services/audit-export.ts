import type { components, operations } from "../generated/api.js";
import { ValidationFailed } from "../errors.js";
import { auditEventsAfter, lastAuditSeq, nthAuditSeq, type AuditFilter, type StoredAuditEvent } from "../db/audit-events.js";
import { findUserByEmail } from "../db/users.js";
import type { Services } from "./context.js";
import { canonicalId } from "./users.js";

type AuditEvent = components["schemas"]["AuditEvent"];
export type AdminEventsQuery = NonNullable<operations["listAdminEvents"]["parameters"]["query"]>;

/** Events per page of the JSON answer: the default and the most. */
export const JSON_PAGE = { default: 100, max: 1000 } as const;

/** Rows read per query while streaming: memory holds one batch, whatever the export's size. */
export const STREAM_BATCH = 1000;

/** The columns of the CSV export, in order (openapi.yaml lists the same). */
export const AUDIT_COLUMNS = [
  "cursor",
  "id",
  "created_at",
  "type",
  "actor_user_id",
  "actor_email",
  "user_id",
  "package_id",
  "link_id",
  "file_id",
  "client_address",
  "user_agent",
  "data",
] as const satisfies readonly (keyof AuditEvent)[];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An event as the export shows it. */
export function toAuditEvent(r: StoredAuditEvent): AuditEvent {
  let data: AuditEvent["data"];
  try {
    const parsed: unknown = JSON.parse(r.data);
    data = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as AuditEvent["data"]) : { value: parsed };
  } catch {
    data = {};
  }
  return {
    cursor: String(r.seq),
    id: r.id,
    created_at: r.created_at,
    type: r.type,
    actor_user_id: r.actor_user_id,
    actor_email: r.actor_email,
    user_id: r.user_id,
    package_id: r.package_id,
    link_id: r.link_id,
    file_id: r.file_id,
    client_address: r.client_address,
    user_agent: r.user_agent,
    data,
  };
}

interface Walk {
  filter: AuditFilter;
  /** The walk starts after this number (the cursor; 0: from the first event). */
  after: number;
}

/** The query's filters and starting point; 422 for what no event could match by mistake. */
async function walkOf(s: Services, q: AdminEventsQuery): Promise<Walk> {
  const filter: AuditFilter = {};
  if (q.user !== undefined) {
    const who = q.user.trim();
    if (who === "") throw new ValidationFailed("user must be a user's id or email", "/query/user");
    if (UUID.test(who)) filter.userIds = [canonicalId(who)];
    else {
      const found = await findUserByEmail(s.db, who);
      filter.userIds = found ? [found.id] : [];
    }
  }
  if (q.package !== undefined) filter.packageId = canonicalId(q.package);
  if (q.type !== undefined && q.type.length > 0) {
    const exact = q.type.filter((t) => !t.endsWith(".*"));
    const families = q.type.filter((t) => t.endsWith(".*")).map((t) => t.slice(0, -2));
    filter.types = { exact, families };
  }
  if (q.since !== undefined) filter.since = instant(q.since, "/query/since");
  if (q.until !== undefined) filter.until = instant(q.until, "/query/until");
  if (filter.since && filter.until && filter.since >= filter.until) throw new ValidationFailed("until must be later than since", "/query/until");
  return { filter, after: q.cursor === undefined ? 0 : cursorSeq(q.cursor) };
}

/** A date-time as stored (ISO 8601 in UTC, milliseconds), so text comparison is time order. */
function instant(text: string, path: string): string {
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new ValidationFailed("must be a date and time (RFC 3339)", path);
  return new Date(t).toISOString();
}

function cursorSeq(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) throw new ValidationFailed("cursor is not one this server gave out (use the cursor of the last event received)", "/query/cursor");
  return Number(cursor);
}

/**
 * `GET /admin/events` as JSON: a page of at most `limit` events (100 by default, 1000 at most)
 * after `cursor`, oldest first, and the cursor of the next page (null: no more events yet).
 */
export async function listAdminEvents(s: Services, q: AdminEventsQuery): Promise<components["schemas"]["AuditEventList"]> {
  const limit = q.limit ?? JSON_PAGE.default;
  if (limit > JSON_PAGE.max) throw new ValidationFailed(`limit must be at most ${JSON_PAGE.max} for application/json (stream NDJSON or CSV for more)`, "/query/limit");
  const walk = await walkOf(s, q);
  const rows = await auditEventsAfter(s.db, walk.filter, walk.after, Number.MAX_SAFE_INTEGER, limit + 1);
  const page = rows.slice(0, limit);
  return { items: page.map(toAuditEvent), next_cursor: rows.length > limit ? String(page[page.length - 1]!.seq) : null };
}

/** A streamed export: the batches to write, and the cursor to continue from when `limit` cut it. */
export interface EventExport {
  nextCursor: string | null;
  batches: AsyncGenerator<AuditEvent[]>;
}

/**
 * `GET /admin/events` streamed (NDJSON, CSV): every matching event after `cursor` up to the
 * newest one when the export starts (or the first `limit`), read in batches of STREAM_BATCH
 * by keyset on the trail's numbers, so memory holds one batch at a time. With `limit`, the event
 * after the last one sent is looked up first, so `nextCursor` is known before a byte is written.
 * Each batch is its own query: no transaction or connection is held between them.
 */
export async function exportAdminEvents(s: Services, q: AdminEventsQuery): Promise<EventExport> {
  const walk = await walkOf(s, q);
  let through = await lastAuditSeq(s.db);
  let nextCursor: string | null = null;
  if (q.limit !== undefined) {
    const last = await nthAuditSeq(s.db, walk.filter, walk.after, through, q.limit);
    if (last !== undefined && (await nthAuditSeq(s.db, walk.filter, last, through, 1)) !== undefined) {
      through = last;
      nextCursor = String(last);
    }
  }
  async function* batches(): AsyncGenerator<AuditEvent[]> {
    let after = walk.after;
    for (;;) {
      const rows = await auditEventsAfter(s.db, walk.filter, after, through, STREAM_BATCH);
      if (rows.length === 0) return;
      yield rows.map(toAuditEvent);
      if (rows.length < STREAM_BATCH) return;
      after = rows[rows.length - 1]!.seq;
    }
  }
  return { nextCursor, batches: batches() };
}
