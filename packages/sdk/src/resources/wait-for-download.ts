import type { components } from "../generated/api.js";
import type { RequestOptions } from "../http.js";

type Schemas = components["schemas"];
type PackageDetail = Schemas["PackageDetail"];
type PackageEvent = Schemas["PackageEvent"];

/** The longest the server holds one events request open (its `wait` maximum is 60). */
const LONG_POLL_SECONDS = 30;
/** Room for the answer to travel once the server's wait is over. */
const ANSWER_MARGIN_MS = 15_000;

/** A recipient who has downloaded every file of the package through their link. */
export interface RecipientDownload {
  recipient_email: string;
  link_id: string;
  /** When the last of their files (or the archive) was downloaded. */
  completed_at: string;
}

/** What `waitForDownload` reports as it goes. */
export type WaitForDownloadProgress = { type: "waiting"; pending: string[] } | { type: "event"; event: PackageEvent } | ({ type: "downloaded" } & RecipientDownload);

export interface WaitForDownloadOptions {
  /** Give up after this many ms (default 24 hours): the result then has `complete: false`. */
  timeoutMs?: number;
  /** Aborts the wait (AbortError). */
  signal?: AbortSignal;
  /** Called with the recipients still awaited at the start, each event, and each recipient done. */
  onEvent?: (progress: WaitForDownloadProgress) => void;
}

export interface WaitForDownloadResult {
  /** Every recipient has downloaded everything. */
  complete: boolean;
  /** The recipients who have, in the order they finished. */
  downloads: RecipientDownload[];
  /** The emails of the recipients who have not (empty when complete). */
  pending: string[];
}

/** What the helper needs of the client (wired in client.ts). */
export interface WaitForDownloadDeps {
  getPackage(id: string, o: RequestOptions): Promise<PackageDetail>;
  listEvents(id: string, query: { after?: string; wait?: number }, o: RequestOptions): Promise<PackageEvent[]>;
}

/**
 * Waits until every recipient with a live link of package `id` has downloaded every file of it
 * through their own link, at least once: each file alone, or the archive (which holds them all),
 * in any mix. Downloads before the call count too. Served by the events long-poll
 * (`GET /packages/{id}/events?after=…&wait=30`), not by polling.
 */
export async function waitForDownload(deps: WaitForDownloadDeps, id: string, opts: WaitForDownloadOptions = {}): Promise<WaitForDownloadResult> {
  const deadline = Date.now() + (opts.timeoutMs ?? 24 * 3_600_000);
  const signal = opts.signal;
  const pkg = await deps.getPackage(id, { signal });
  const fileIds = pkg.files.map((f) => f.id);
  // By recipient, not by link: a resent link is a new secret for the same recipient.
  const key = (email: string) => email.toLowerCase();
  const recipients = new Map(pkg.links.filter((l) => l.state === "active").map((l) => [key(l.recipient_email), { email: l.recipient_email, files: new Set<string>() }]));
  const downloads: RecipientDownload[] = [];
  const done = new Set<string>();
  const pending = () => [...recipients.entries()].filter(([k]) => !done.has(k)).map(([, r]) => r.email);

  const take = (events: PackageEvent[]) => {
    // Oldest first, so that `completed_at` is the moment the last missing file arrived.
    for (const e of [...events].sort((a, b) => Number(a.cursor ?? 0) - Number(b.cursor ?? 0))) {
      opts.onEvent?.({ type: "event", event: e });
      const k = e.recipient_email ? key(e.recipient_email) : undefined;
      const r = k === undefined ? undefined : recipients.get(k);
      if (!r || !k || !e.link_id || done.has(k)) continue;
      if (e.type === "archive_download") for (const f of fileIds) r.files.add(f);
      else if (e.type === "file_download" && e.file_id) r.files.add(e.file_id);
      else continue;
      if (fileIds.every((f) => r.files.has(f))) {
        const finished = { recipient_email: r.email, link_id: e.link_id, completed_at: e.created_at };
        done.add(k);
        downloads.push(finished);
        opts.onEvent?.({ type: "downloaded", ...finished });
      }
    }
  };
  const newest = (events: PackageEvent[], cursor: string | undefined) =>
    events.reduce<string | undefined>((c, e) => (e.cursor !== undefined && (c === undefined || Number(e.cursor) > Number(c)) ? e.cursor : c), cursor);

  let events = await deps.listEvents(id, {}, { signal });
  let cursor = newest(events, undefined) ?? "0";
  opts.onEvent?.({ type: "waiting", pending: pending() });
  take(events);
  while (pending().length > 0) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const wait = Math.max(1, Math.min(LONG_POLL_SECONDS, Math.ceil(left / 1000)));
    events = await deps.listEvents(id, { after: cursor, wait }, { signal, timeoutMs: wait * 1000 + ANSWER_MARGIN_MS });
    cursor = newest(events, cursor) ?? cursor;
    take(events);
  }
  const left = pending();
  return { complete: left.length === 0, downloads, pending: left };
}
