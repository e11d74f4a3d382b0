import { fetch } from "undici";

/**
 * Waiting for the first download of a package, by its events: a long poll
 * (`GET /packages/{id}/events?after=<last seen>&wait=30`, answered as soon as something happens
 * or after 30 s), or plain polling every `pollMs` on a server that does not take those parameters
 * (it rejects them with 400/422). Kept apart so the SDK's `packages.waitForDownload` can take its
 * place.
 */
export interface WaitOptions {
  baseUrl: string;
  token: string;
  /**
   * A fresh token when the server answers 401 (a keyless token is short-lived, and a wait may
   * outlast it). Without it a 401 ends the wait.
   */
  refreshToken?: () => Promise<string>;
  timeoutMs: number;
  /** Between two plain polls (default 5 s). */
  pollMs?: number;
  /** Seconds the server may hold one long poll (default 30). */
  waitSeconds?: number;
  signal?: AbortSignal;
  now?: () => number;
}

export interface DownloadSeen {
  type: string;
  recipient_email: string | null;
  created_at: string;
}

export class WaitError extends Error {}

interface EventLike {
  id?: unknown;
  type?: unknown;
  recipient_email?: unknown;
  created_at?: unknown;
}

const DOWNLOADS = new Set(["file_download", "archive_download"]);

/** Resolves with the first download event; throws WaitError when `timeoutMs` passes first. */
export async function waitForDownload(packageId: string, o: WaitOptions): Promise<DownloadSeen> {
  const now = o.now ?? Date.now;
  const deadline = now() + o.timeoutMs;
  const base = `${o.baseUrl}/api/v1/packages/${encodeURIComponent(packageId)}/events`;
  let longPoll = true;
  let after: string | undefined;
  let token = o.token;
  let refreshed = false;
  for (;;) {
    const left = deadline - now();
    if (left <= 0) throw new WaitError(`no download within ${formatMs(o.timeoutMs)}`);
    const wait = Math.max(1, Math.min(o.waitSeconds ?? 30, Math.ceil(left / 1000)));
    const url = longPoll ? `${base}?${new URLSearchParams({ ...(after ? { after } : {}), wait: String(wait) })}` : base;
    const signal = AbortSignal.any([AbortSignal.timeout(wait * 1000 + 30_000), ...(o.signal ? [o.signal] : [])]);
    const started = now();
    let res;
    try {
      res = await fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: "application/json" }, signal });
    } catch (err) {
      if (o.signal?.aborted) throw err;
      // A dropped connection during a long wait is normal on some networks: ask again.
      await sleep(Math.min(o.pollMs ?? 5000, Math.max(0, deadline - now())), o.signal);
      continue;
    }
    const body: unknown = await res.json().catch(() => undefined);
    if (res.status === 401 && o.refreshToken && !refreshed) {
      token = await o.refreshToken();
      // One refresh per success: a token refused right after it was issued is a real refusal.
      refreshed = true;
      continue;
    }
    if (longPoll && (res.status === 400 || res.status === 422)) {
      longPoll = false;
      continue;
    }
    if (!res.ok) {
      const detail = (body as { detail?: unknown } | undefined)?.detail;
      throw new WaitError(`waiting for a download failed: ${typeof detail === "string" ? detail : `HTTP ${res.status}`}`);
    }
    refreshed = false;
    const events = eventsOf(body);
    const hit = events.find((e) => typeof e.type === "string" && DOWNLOADS.has(e.type));
    if (hit) {
      return { type: String(hit.type), recipient_email: typeof hit.recipient_email === "string" ? hit.recipient_email : null, created_at: String(hit.created_at ?? "") };
    }
    if (longPoll) {
      after = cursorOf(body, events) ?? after;
      // A server that answers at once instead of holding the poll must not be asked in a busy loop.
      if (now() - started < 1000) await sleep(1000, o.signal);
    } else {
      await sleep(Math.min(o.pollMs ?? 5000, Math.max(0, deadline - now())), o.signal);
    }
  }
}

/** The events of an answer: a plain array (newest first), or a page `{ items | events, … }`. */
function eventsOf(body: unknown): EventLike[] {
  if (Array.isArray(body)) return body as EventLike[];
  const b = body as { items?: unknown; events?: unknown } | undefined;
  const list = Array.isArray(b?.items) ? b.items : Array.isArray(b?.events) ? b.events : [];
  return list as EventLike[];
}

/** Where the next long poll starts: the page's cursor, or the newest event's id. */
function cursorOf(body: unknown, events: EventLike[]): string | undefined {
  const b = body as { next_cursor?: unknown; cursor?: unknown } | undefined;
  for (const c of [b?.next_cursor, b?.cursor]) if (typeof c === "string" && c) return c;
  const ids = events.map((e) => e.id).filter((id): id is string => typeof id === "string");
  return Array.isArray(body) ? ids[0] : ids[ids.length - 1];
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });
}

export function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}
