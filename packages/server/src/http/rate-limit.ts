import type { NextFunction, Request, Response } from "express";
import { rateLimit, type Store } from "express-rate-limit";

interface FailureLimitOptions {
  /** Failures allowed per key within the window. */
  limit: number;
  windowSeconds: number;
  /** Keys the counter; defaults to the client address (IPv6 grouped by /56). */
  key?: (req: Request) => string | Promise<string>;
  /** Which answers count as failures. */
  isFailure: (res: Response) => boolean;
  detail: string;
  /** Answers a limited request some other way (an HTML page); default `{"detail"}` JSON. */
  respond?: (req: Request, res: Response) => void;
  /** Where the counters live (http/rate-limit-store.ts): shared by every process on PostgreSQL. */
  store: Store;
}

/**
 * Counts failed requests per key and answers 429 with `Retry-After` once a key has failed `limit`
 * times within the window. Successful requests are not counted.
 */
let limiters = 0;

export function failureRateLimit(opts: FailureLimitOptions) {
  const { store } = opts;
  // Each limiter keeps its state under its own property: two on one request (per address and per
  // link) must not read each other's key when un-counting a cancelled answer.
  const property = `rateLimit${++limiters}`;
  const limiter = rateLimit({
    requestPropertyName: property,
    windowMs: opts.windowSeconds * 1000,
    limit: opts.limit,
    standardHeaders: "draft-7",
    legacyHeaders: false,
    store,
    skipSuccessfulRequests: true,
    requestWasSuccessful: (_req, res) => !opts.isFailure(res),
    ...(opts.key ? { keyGenerator: (req: Request) => opts.key!(req) } : {}),
    handler: (req, res) => {
      res.status(429);
      if (opts.respond) opts.respond(req, res);
      else res.json({ detail: opts.detail, code: "rate_limited" });
    },
  });
  return (req: Request, res: Response, next: NextFunction) => {
    // express-rate-limit counts every request on arrival and un-counts a success only when its
    // answer *finishes*. An answer the client cancels (a download stopped halfway) never
    // finishes: un-count it here unless it was a failure, or a recipient who stops a few
    // downloads of a valid link would be locked out.
    res.once("close", () => {
      const key = (req as unknown as Record<string, { key?: string } | undefined>)[property]?.key;
      if (!res.writableFinished && key !== undefined && !opts.isFailure(res)) {
        // A failed un-count (the database away for a moment) leaves the limit one stricter: no more.
        Promise.resolve(store.decrement(key)).catch(() => {});
      }
    });
    return limiter(req, res, next);
  };
}

/**
 * At most `limit` requests per key within the window, successful or not (429 with `Retry-After`
 * after that): for operations whose every call has a cost, such as an inbound link's "done".
 */
export function callRateLimit(opts: { limit: number; windowSeconds: number; key: (req: Request) => string; detail: string; store: Store }) {
  return rateLimit({
    store: opts.store,
    windowMs: opts.windowSeconds * 1000,
    limit: opts.limit,
    standardHeaders: "draft-7",
    legacyHeaders: false,
    keyGenerator: (req: Request) => opts.key(req),
    handler: (_req, res) => {
      res.status(429).json({ detail: opts.detail, code: "rate_limited" });
    },
  });
}
