import * as undici from "undici";
import { AbortError, NetworkError, TimeoutError } from "./errors.js";
import { DEFAULT_RETRY, isIdempotent, retryDelay, shouldRetryStatus, sleep, type RetryOptions } from "./retry.js";

export interface TransportOptions {
  retry: RetryOptions;
  /** Time to wait for response headers, in ms. */
  timeoutMs: number;
}

export const DEFAULT_TRANSPORT: TransportOptions = { retry: DEFAULT_RETRY, timeoutMs: 60_000 };

/** Maps an exception from undici to NetworkError / TimeoutError / AbortError, keeping it as `cause`. */
export function wrapTransportError(err: unknown, what: string, userSignal?: AbortSignal | null): Error {
  if (userSignal?.aborted) return new AbortError(`${what}: aborted`, { cause: err });
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } };
  const code = e.code ?? e.cause?.code;
  if (e.name === "TimeoutError" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT") {
    return new TimeoutError(`${what}: timed out`, { cause: err });
  }
  if (e.name === "AbortError") return new AbortError(`${what}: aborted`, { cause: err });
  return new NetworkError(`${what}: ${code ?? (err as Error)?.message ?? "network error"}`, { cause: err });
}

/**
 * The fetch that openapi-fetch uses: undici's, with a header timeout, bounded retries with
 * jittered backoff for idempotent requests (network errors, 429 honouring Retry-After, 502–504),
 * and transport failures turned into typed errors.
 */
export function makeFetch(opts: TransportOptions): (input: Request) => Promise<Response> {
  return async (input: Request): Promise<Response> => {
    const method = input.method.toUpperCase();
    const retries = isIdempotent(method) ? opts.retry.retries : 0;
    const what = `${method} ${new URL(input.url).pathname}`;
    for (let attempt = 0; ; attempt++) {
      const req = attempt < retries ? input.clone() : input;
      // A timer cleared once headers arrive, not AbortSignal.timeout: that one would also cut off
      // a slow but flowing response body, and the timeout is meant for "no answer".
      const timer = new AbortController();
      const timeout = setTimeout(() => timer.abort(new DOMException(`no response within ${opts.timeoutMs} ms`, "TimeoutError")), opts.timeoutMs);
      const signals = [timer.signal, ...(input.signal ? [input.signal] : [])];
      let res: Response;
      try {
        res = (await undici.fetch(req as unknown as undici.Request, { signal: AbortSignal.any(signals) })) as unknown as Response;
      } catch (err) {
        clearTimeout(timeout);
        const wrapped = wrapTransportError(err, what, input.signal);
        if (attempt < retries && !(wrapped instanceof AbortError)) {
          await pause(retryDelay(attempt, opts.retry), input.signal, what);
          continue;
        }
        throw wrapped;
      }
      clearTimeout(timeout);
      if (attempt < retries && shouldRetryStatus(res.status)) {
        await res.body?.cancel().catch(() => undefined);
        await pause(retryDelay(attempt, opts.retry, res.headers.get("retry-after")), input.signal, what);
        continue;
      }
      return res;
    }
  };
}

/** The wait between attempts; the caller's abort during it is an AbortError like any other. */
async function pause(ms: number, signal: AbortSignal | null | undefined, what: string): Promise<void> {
  try {
    await sleep(ms, signal ?? undefined);
  } catch (err) {
    throw new AbortError(`${what}: aborted`, { cause: err });
  }
}
