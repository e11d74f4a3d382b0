import * as undici from "undici";
import { AbortError, NetworkError, safeUrl, TimeoutError, UnexpectedResponseError } from "./errors.js";
import { DEFAULT_RETRY, isIdempotent, retryDelay, shouldRetryStatus, sleep, type RetryOptions } from "./retry.js";
import { DEFAULT_RETRY_WINDOW_MS, DOWN_MAX_DELAY_MS, serverUnavailable } from "./retry-window.js";
import { USER_AGENT } from "./version.js";

/** How the SDK talks HTTP: retries, the two time limits, the connection pool and the User-Agent. */
export interface TransportOptions {
  retry: RetryOptions;
  /** An API call's deadline in ms: until its answer starts, across all its retries. */
  timeoutMs: number;
  /** Uploads, downloads and answer bodies fail when no byte moves for this long (ms). */
  stallTimeoutMs: number;
  /** undici dispatcher (Agent, ProxyAgent, …); undefined: undici's global one. */
  dispatcher?: undici.Dispatcher | undefined;
  userAgent: string;
  /**
   * How long a call keeps retrying while the server is unavailable (connections refused or reset
   * before an answer, 502/503/504: a restart or a deploy), in ms; 0: only the counted retries.
   */
  retryWindowMs: number;
  /**
   * The Authorization token when it is not fixed (a token provider): asked before every attempt,
   * with `refresh` once after a 401.
   */
  auth?: ((refresh: boolean, signal: AbortSignal) => Promise<string>) | undefined;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;
export const DEFAULT_TRANSPORT: TransportOptions = {
  retry: DEFAULT_RETRY,
  timeoutMs: DEFAULT_TIMEOUT_MS,
  stallTimeoutMs: DEFAULT_STALL_TIMEOUT_MS,
  userAgent: USER_AGENT,
  retryWindowMs: DEFAULT_RETRY_WINDOW_MS,
};

const PROXY_VARIABLES = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"];
let envProxy: { key: string; agent: undici.Dispatcher } | undefined;

/**
 * The dispatcher for the standard proxy variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY, in either
 * case), when one is set: undici's EnvHttpProxyAgent, shared while the variables stay the same.
 * Undefined otherwise (undici's global dispatcher: direct connections).
 */
export function proxyFromEnv(env: Record<string, string | undefined> = process.env): undici.Dispatcher | undefined {
  if (!PROXY_VARIABLES.some((k) => env[k])) return undefined;
  const key = [...PROXY_VARIABLES, "NO_PROXY", "no_proxy"].map((k) => env[k] ?? "").join("\n");
  if (envProxy?.key !== key) envProxy = { key, agent: new undici.EnvHttpProxyAgent() };
  return envProxy.agent;
}

/** Options every API method takes as its last argument. */
export interface RequestOptions {
  /** Aborts the call (AbortError). */
  signal?: AbortSignal | undefined;
  /** This call's deadline in ms, instead of the client's `timeoutMs`. */
  timeoutMs?: number | undefined;
  /** This call's retry window in ms, instead of the client's `retryWindowMs` (0: none). */
  retryWindowMs?: number | undefined;
  /**
   * For `packages.create` and `packages.finalize`: the Idempotency-Key to send (default: a new
   * random UUID per call). Reuse one to make a repeated call safe across process restarts.
   */
  idempotencyKey?: string | undefined;
}

/** What the SDK itself knows about a call: a POST that is safe to repeat without an Idempotency-Key. */
export interface CallOptions extends RequestOptions {
  retryPost?: boolean | undefined;
}

/** `400` → `0.4 s`, `30000` → `30 s`. */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(ms < 1000 ? 1 : 0))} s`;
}

/**
 * A timer whose firing aborts a signal: the deadline of an API call, or (with `touch()` on every
 * byte) the stall watchdog of a transfer. `fired` tells a timeout from the caller's own abort.
 */
export class Watchdog {
  readonly signal: AbortSignal;
  fired = false;
  private readonly ac = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private until = 0;

  constructor(
    readonly ms: number,
    user?: AbortSignal | null,
  ) {
    this.signal = user ? AbortSignal.any([user, this.ac.signal]) : this.ac.signal;
    this.touch();
  }

  private stopped = false;

  /** Starts the time again (a byte moved); nothing once fired or stopped. */
  touch(): void {
    if (this.fired || this.stopped) return;
    clearTimeout(this.timer);
    this.until = performance.now() + this.ms;
    this.timer = setTimeout(() => {
      this.fired = true;
      this.ac.abort(new DOMException(`no progress within ${this.ms} ms`, "TimeoutError"));
    }, this.ms);
  }

  /** Starts a stopped watchdog again with its full time (a deadline after the server was away). */
  restart(): void {
    if (this.fired) return;
    this.stopped = false;
    this.touch();
  }

  /** Milliseconds left before it fires. */
  remaining(): number {
    return Math.max(0, this.until - performance.now());
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

/**
 * Maps an exception from undici or a stream to the SDK's errors, keeping it as `cause`: the
 * caller's abort is AbortError; the watchdog's is TimeoutError (`timeout` describes it); the
 * rest is NetworkError.
 */
export function wrapTransportError(
  err: unknown,
  what: string,
  userSignal?: AbortSignal | null,
  where: { method?: string; url?: string; timeout?: { watchdog: Watchdog; kind: "deadline" | "stall"; message: string } } = {},
): Error {
  const loc = { method: where.method, url: where.url === undefined ? undefined : safeUrl(where.url) };
  if (userSignal?.aborted) return new AbortError(`${what}: aborted`, { cause: err });
  if (where.timeout?.watchdog.fired) {
    const t = where.timeout;
    return new TimeoutError(t.message, { cause: err, ...loc, timeoutMs: t.watchdog.ms, kind: t.kind });
  }
  if (err instanceof AbortError || err instanceof TimeoutError || err instanceof NetworkError) return err;
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } };
  const code = e.code ?? e.cause?.code;
  if (e.name === "TimeoutError" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT") {
    return new TimeoutError(`${what}: timed out`, { cause: err, ...loc });
  }
  if (e.name === "AbortError") return new AbortError(`${what}: aborted`, { cause: err });
  return new NetworkError(`${what}: ${code ?? (err as Error)?.message ?? "network error"}`, { cause: err, ...loc });
}

/** Method and URL of each response the SDK's fetch returned, for error messages. */
const responseMeta = new WeakMap<object, { method: string; url: string }>();

export function requestOf(response: Response): { method: string; url: string } {
  return responseMeta.get(response) ?? { method: "HTTP", url: response.url };
}

/**
 * The fetch that openapi-fetch uses: undici's, with
 * - one deadline per call (`timeoutMs`): it covers every attempt and every wait between them, and
 *   ends when an answer's headers arrive; a retry that could not finish in time is not started;
 * - a retry window (`retryWindowMs`): while the server is unavailable (refused or reset
 *   connections, 502–504) the call keeps trying, with jittered backoff honouring Retry-After, and
 *   that time does not count against the deadline;
 * - bounded retries with jittered backoff for idempotent requests and POSTs with an
 *   Idempotency-Key (other network errors, 429 honouring Retry-After);
 * - the token of a token provider, asked before each attempt and renewed once after a 401;
 * - JSON answers read whole under the stall watchdog (a body that stops flowing fails);
 * - transport failures turned into typed errors.
 */
export function makeFetch(opts: TransportOptions, call: CallOptions = {}): (input: Request) => Promise<Response> {
  return async (input: Request): Promise<Response> => {
    const method = input.method.toUpperCase();
    // POSTs are retried only when they carry an Idempotency-Key (the same on every attempt).
    const safe = isIdempotent(method) || input.headers.has("idempotency-key") || call.retryPost === true;
    const retries = safe ? opts.retry.retries : 0;
    const windowMs = opts.retry.retries > 0 ? (call.retryWindowMs ?? opts.retryWindowMs) : 0;
    const path = new URL(input.url).pathname;
    const what = `${method} ${path}`;
    const timeoutMs = call.timeoutMs ?? opts.timeoutMs;
    const deadline = new Watchdog(timeoutMs, input.signal);
    const timeout = { watchdog: deadline, kind: "deadline" as const, message: `${what}: no answer from ${safeUrl(input.url)} within ${seconds(timeoutMs)}` };
    const where = { method, url: input.url, timeout };
    let down: { since: number; tries: number } | undefined;
    let refresh = false;
    let refreshed = false;
    /** The server is away: the wait before the next try (jittered, Retry-After honoured), or undefined once the window is spent. */
    const downWait = (retryAfter: string | null): number | undefined => {
      down ??= { since: performance.now(), tries: 0 };
      const left = windowMs - (performance.now() - down.since);
      if (left <= 0) return undefined;
      // Without a Retry-After, ask again at least every 2 s: a restart is usually over in seconds.
      const backoff = retryAfter ? opts.retry : { ...opts.retry, maxDelayMs: Math.min(opts.retry.maxDelayMs, DOWN_MAX_DELAY_MS) };
      return Math.min(retryDelay(down.tries++, backoff, retryAfter), left);
    };
    /** That wait, with the deadline paused: time the server is away counts against the window only. */
    const waitDown = async (ms: number): Promise<void> => {
      deadline.stop();
      await pause(ms, input.signal, (e) => wrapTransportError(e, what, input.signal, where));
      deadline.restart();
    };
    try {
      for (let attempt = 0; ; ) {
        const req = input.clone();
        if (opts.auth) req.headers.set("authorization", `Bearer ${await opts.auth(refresh, input.signal)}`);
        refresh = false;
        let res: Response;
        try {
          res = (await undici.fetch(req as unknown as undici.Request, {
            signal: deadline.signal,
            ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
          })) as unknown as Response;
        } catch (err) {
          const wrapped = wrapTransportError(err, what, input.signal, where);
          if (wrapped instanceof AbortError || (wrapped instanceof TimeoutError && deadline.fired)) throw wrapped;
          const away = windowMs > 0 ? serverUnavailable(err, safe) : undefined;
          if (away) {
            const wait = downWait(null);
            if (wait !== undefined) {
              await waitDown(wait);
              continue;
            }
            throw windowSpent(wrapped, away, down!.since, windowMs, what, input.url, err);
          }
          if (attempt < retries) {
            const wait = retryDelay(attempt++, opts.retry);
            if (wait < deadline.remaining()) {
              await pause(wait, deadline.signal, () => wrapTransportError(err, what, input.signal, where));
              continue;
            }
          }
          throw wrapped;
        }
        if (res.status === 401 && opts.auth && !refreshed) {
          // The minted token was revoked or expired early: mint a new one, once per call.
          refreshed = refresh = true;
          await res.body?.cancel().catch(() => undefined);
          continue;
        }
        if (windowMs > 0 && safe && res.status >= 502 && res.status <= 504) {
          const wait = downWait(res.headers.get("retry-after"));
          // Past the window, this answer is the result.
          if (wait !== undefined) {
            await res.body?.cancel().catch(() => undefined);
            await waitDown(wait);
            continue;
          }
        } else if (attempt < retries && shouldRetryStatus(res.status)) {
          const wait = retryDelay(attempt++, opts.retry, res.headers.get("retry-after"));
          // Not enough time left to wait and ask again: this answer is the result.
          if (wait < deadline.remaining()) {
            await res.body?.cancel().catch(() => undefined);
            await pause(wait, deadline.signal, (e) => wrapTransportError(e, what, input.signal, where));
            continue;
          }
        }
        deadline.stop();
        const out = await settleBody(res, opts.stallTimeoutMs, input.signal, method, what, input.url);
        responseMeta.set(out, { method, url: input.url });
        return out;
      }
    } finally {
      deadline.stop();
    }
  };
}

/** The error of a call whose retry window ran out: the last failure, saying for how long it was tried. */
function windowSpent(wrapped: Error, away: string, since: number, windowMs: number, what: string, url: string, cause: unknown): Error {
  if (!(wrapped instanceof NetworkError)) return wrapped;
  const ms = Math.max(windowMs, performance.now() - since);
  return new NetworkError(`${what}: the server at ${new URL(url).origin} stayed unavailable (${away}) for ${seconds(ms)}`, {
    cause,
    method: wrapped.method,
    url: wrapped.url,
    unavailableForMs: Math.round(ms),
  });
}

/** The wait between attempts; an abort or the deadline during it ends the call. */
async function pause(ms: number, signal: AbortSignal, onAbort: (err: unknown) => Error): Promise<void> {
  try {
    await sleep(ms, signal);
  } catch (err) {
    throw onAbort(err);
  }
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i;

/** A file being downloaded (through the low-level client): passed on as a stream, unread. */
function isAttachment(res: Response): boolean {
  return /^\s*attachment/i.test(res.headers.get("content-disposition") ?? "");
}

/**
 * Every answer of the API is JSON (or empty). A JSON answer is read here, whole, under the stall
 * watchdog (API answers are small; a body that stops flowing must fail, not hang) and checked to
 * parse. An HTML or text page, or broken JSON, means a wrong URL or something in between: an
 * UnexpectedResponseError naming what came back, never a raw SyntaxError later.
 */
async function settleBody(res: Response, stallMs: number, user: AbortSignal, method: string, what: string, url: string): Promise<Response> {
  const type = res.headers.get("content-type") ?? "";
  if (!res.body || res.status === 204 || res.status === 304 || method === "HEAD" || res.headers.get("content-length") === "0") return res;
  if (isAttachment(res)) return res;
  const text = await readText(res, stallMs, user, what, url);
  if (JSON_TYPE.test(type)) {
    try {
      JSON.parse(text);
    } catch (err) {
      throw new UnexpectedResponseError({ status: res.status, contentType: type, method, url, reason: `got JSON that does not parse (${(err as Error).message})`, cause: err });
    }
  } else if (text.trim() !== "") {
    throw new UnexpectedResponseError({ status: res.status, contentType: type, method, url });
  }
  return new undici.Response(text, { status: res.status, statusText: res.statusText, headers: res.headers as unknown as undici.Headers }) as unknown as Response;
}

async function readText(res: Response, stallMs: number, user: AbortSignal, what: string, url: string): Promise<string> {
  const stall = new Watchdog(stallMs, user);
  const reader = res.body!.getReader();
  const cancel = () => void reader.cancel().catch(() => undefined);
  stall.signal.addEventListener("abort", cancel, { once: true });
  const chunks: Uint8Array[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (stall.signal.aborted) throw stall.signal.reason;
      if (done) break;
      stall.touch();
      chunks.push(value);
    }
  } catch (err) {
    throw wrapTransportError(err, what, user, {
      url,
      timeout: { watchdog: stall, kind: "stall", message: `${what}: the answer from ${safeUrl(url)} stopped: no data for ${seconds(stallMs)}` },
    });
  } finally {
    stall.stop();
    stall.signal.removeEventListener("abort", cancel);
  }
  return Buffer.concat(chunks).toString("utf8");
}
