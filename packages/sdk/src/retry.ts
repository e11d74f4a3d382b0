import { parseRetryAfter } from "./errors.js";

export interface RetryOptions {
  /** Retries after the first attempt (default 2). */
  retries: number;
  /** First backoff in ms (default 300); doubles each time, with full jitter. */
  baseDelayMs: number;
  /** Cap for one wait in ms (default 10 000), also for Retry-After. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { retries: 2, baseDelayMs: 300, maxDelayMs: 10_000 };

const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);
const RETRY_STATUS = new Set([429, 502, 503, 504]);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method.toUpperCase());
}

export function shouldRetryStatus(status: number): boolean {
  return RETRY_STATUS.has(status);
}

/**
 * The wait before retry number `attempt` (0-based): Retry-After when the server gave one (capped),
 * else capped exponential backoff with full jitter.
 */
export function retryDelay(attempt: number, opts: RetryOptions, retryAfterHeader?: string | null, random = Math.random): number {
  const ra = parseRetryAfter(retryAfterHeader);
  if (ra !== undefined) return Math.min(ra * 1000, opts.maxDelayMs);
  const exp = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** attempt);
  return Math.round(exp / 2 + (random() * exp) / 2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
