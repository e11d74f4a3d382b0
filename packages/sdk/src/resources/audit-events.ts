import fs from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { seconds, Watchdog, wrapTransportError, type RequestOptions } from "../http.js";
import { listIterator, type ListIterator } from "../paginate.js";
import type { AuditEvent, AuditEventList } from "../types.js";
import type { Core } from "./core.js";

/** Which events (every filter given narrows the export). */
export interface AuditEventFilters {
  /** Events whose actor or subject is this user: their id or their email. */
  user?: string;
  /** Events about this package (its id). */
  package?: string;
  /** Only these types; `package.*` matches a family. */
  type?: string | string[];
  /** At or after this time. */
  since?: Date | string;
  /** Before this time. */
  until?: Date | string;
}

/** Where a walk starts and how much it takes. */
export interface AuditEventRange {
  /** The `cursor` of the last event already received: start after it. */
  cursor?: string;
  /** At most this many events (a page: at most 1000; a stream: any number). */
  limit?: number;
}

/** The streamed formats of the export. */
export type AuditExportFormat = "ndjson" | "csv";

/** A streamed export: its bytes, and the cursor to continue from when `limit` cut it. */
export interface AuditExport {
  format: AuditExportFormat;
  /** NDJSON (one AuditEvent a line) or CSV (a header row, then one record a event). */
  body: ReadableStream<Uint8Array>;
  /** Pass as `cursor` to continue; null when the export holds every matching event. */
  nextCursor: string | null;
}

const ACCEPT: Record<AuditExportFormat, string> = { ndjson: "application/x-ndjson", csv: "text/csv" };

function queryOf(q: AuditEventFilters & AuditEventRange) {
  const time = (v: Date | string | undefined) => (v instanceof Date ? v.toISOString() : v);
  const since = time(q.since);
  const until = time(q.until);
  return {
    ...(q.user !== undefined ? { user: q.user } : {}),
    ...(q.package !== undefined ? { package: q.package } : {}),
    ...(q.type !== undefined ? { type: Array.isArray(q.type) ? q.type : q.type.split(",") } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
    ...(q.limit !== undefined ? { limit: q.limit } : {}),
  };
}

/**
 * The body of a streamed answer, failing with a TimeoutError when no byte arrives for `stallMs`
 * (an export of millions of events may take long; one that stops flowing must not hang).
 */
function stallGuarded(body: ReadableStream<Uint8Array>, stallMs: number, signal: AbortSignal | undefined, url: string): ReadableStream<Uint8Array> {
  const stall = new Watchdog(stallMs, signal);
  const reader = body.getReader();
  const what = "GET /admin/events";
  stall.signal.addEventListener("abort", () => void reader.cancel().catch(() => undefined), { once: true });
  const failure = (err: unknown) =>
    wrapTransportError(err, what, signal ?? new AbortController().signal, {
      method: "GET",
      url,
      timeout: { watchdog: stall, kind: "stall", message: `${what}: the export from ${new URL(url).origin} stopped: no data for ${seconds(stallMs)}` },
    });
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      try {
        const { value, done } = await reader.read();
        if (stall.signal.aborted) throw stall.signal.reason;
        if (done) {
          stall.stop();
          ctrl.close();
          return;
        }
        stall.touch();
        ctrl.enqueue(value);
      } catch (err) {
        stall.stop();
        ctrl.error(failure(err));
      }
    },
    async cancel(reason) {
      stall.stop();
      await reader.cancel(reason);
    },
  });
}

/** Passes a byte stream on without its first line (up to and including the first LF). */
async function* withoutFirstLine(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let skipping = true;
  for await (const chunk of source) {
    if (!skipping) {
      yield chunk;
      continue;
    }
    const nl = chunk.indexOf(0x0a);
    if (nl < 0) continue;
    skipping = false;
    if (nl + 1 < chunk.length) yield chunk.subarray(nl + 1);
  }
}

/** `sf.admin.events`: the instance's audit trail (admins only), as pages, a walk, or a streamed export. */
export function auditEventsResource({ api, call, init, baseUrl, transport }: Core) {
  const events = {
    /**
     * One page, oldest first (`limit` events, 100 by default, 1000 at most); `next_cursor` (as
     * `cursor`) continues it, null when there are no more events yet.
     */
    list: (query: AuditEventFilters & AuditEventRange = {}, o?: RequestOptions): Promise<AuditEventList> =>
      call(api.GET("/admin/events", { params: { query: queryOf(query) }, ...init(o) })) as Promise<AuditEventList>,
    /**
     * Every matching event, oldest first, page by page (`pageSize`, default 1000) following the
     * cursor: `for await (const e of sf.admin.events.iterate({ since }))`. Each page is its own
     * request (retried on its own); events recorded during the walk are included when they match.
     * Keep `e.cursor` of the last event handled to resume later with `{ cursor }`.
     */
    iterate: (query: AuditEventFilters & { cursor?: string; pageSize?: number } = {}, o?: RequestOptions): ListIterator<AuditEvent> => {
      const { pageSize, cursor: start, ...filters } = query;
      return listIterator(async function* () {
        let cursor = start;
        for (;;) {
          const page = await events.list({ ...filters, ...(cursor !== undefined ? { cursor } : {}), limit: pageSize ?? 1000 }, o);
          yield* page.items;
          if (page.next_cursor === null) return;
          cursor = page.next_cursor;
        }
      });
    },
    /**
     * The export as one streamed answer, NDJSON or CSV: every matching event after `cursor` up to
     * the newest one when it starts (or the first `limit`). Read `body` to its end (or cancel it).
     */
    stream: async (query: AuditEventFilters & AuditEventRange, opts: { format: AuditExportFormat } & RequestOptions): Promise<AuditExport> => {
      const result = await api.GET("/admin/events", {
        params: { query: queryOf(query) },
        headers: { Accept: ACCEPT[opts.format] },
        parseAs: "stream",
        ...init(opts),
      });
      const body = (await call(Promise.resolve(result))) as ReadableStream<Uint8Array> | null;
      const url = `${baseUrl}/api/v1/admin/events`;
      const empty = new ReadableStream<Uint8Array>({ start: (c) => c.close() });
      return {
        format: opts.format,
        body: body ? stallGuarded(body, transport.stallTimeoutMs, opts.signal, url) : empty,
        nextCursor: result.response.headers.get("x-next-cursor"),
      };
    },
    /**
     * Streams the export into a file (`append`: after what it holds, as when resuming with
     * `cursor`). Returns the bytes written and the cursor to continue from when `limit` cut it.
     */
    download: async (
      path: string,
      query: AuditEventFilters & AuditEventRange,
      opts: { format: AuditExportFormat; append?: boolean } & RequestOptions,
    ): Promise<{ bytes: number; nextCursor: string | null }> => {
      const exp = await events.stream(query, opts);
      // Appended CSV continues the records already there: its header row is left out.
      const continuing = opts.append === true && opts.format === "csv" && (fs.statSync(path, { throwIfNoEntry: false })?.size ?? 0) > 0;
      const file = fs.createWriteStream(path, { flags: opts.append ? "a" : "w", mode: 0o600 });
      const source = Readable.fromWeb(exp.body as import("node:stream/web").ReadableStream<Uint8Array>);
      await (continuing ? pipeline(source, withoutFirstLine, file) : pipeline(source, file));
      return { bytes: file.bytesWritten, nextCursor: exp.nextCursor };
    },
  };
  return events;
}

export type AuditEventsResource = ReturnType<typeof auditEventsResource>;
