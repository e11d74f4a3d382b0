import type { NextFunction, Request, Response } from "express";
import { MemoryStore, rateLimit } from "express-rate-limit";

interface FailureLimitOptions {
  /** Failures allowed per key within the window. */
  limit: number;
  windowSeconds: number;
  /** Keys the counter; defaults to the client address (IPv6 grouped by /56). */
  key?: (req: Request) => string;
  /** Which answers count as failures. */
  isFailure: (res: Response) => boolean;
  detail: string;
  /** Answers a limited request some other way (an HTML page); default `{"detail"}` JSON. */
  respond?: (req: Request, res: Response) => void;
}

/**
 * Counts failed requests per key and answers 429 with `Retry-After` once a key has failed `limit`
 * times within the window. Successful requests are not counted. In memory: with several instances
 * each counts on its own (documented in the README).
 */
let limiters = 0;

export function failureRateLimit(opts: FailureLimitOptions) {
  const store = new MemoryStore();
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
      if (!res.writableFinished && key !== undefined && !opts.isFailure(res)) void store.decrement(key);
    });
    return limiter(req, res, next);
  };
}

/**
 * At most `limit` requests per key within the window, successful or not (429 with `Retry-After`
 * after that): for operations whose every call has a cost, such as an inbound link's "done".
 */
export function callRateLimit(opts: { limit: number; windowSeconds: number; key: (req: Request) => string; detail: string }) {
  return rateLimit({
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

/**
 * As failureRateLimit, but only failures are ever counted: a request is refused (429 with
 * `Retry-After`) once its key failed `limit` times within the window, and successful requests in
 * flight take no room. For a key shared by requests that run at once (one link's downloads, a
 * browser fetching ten files together), where counting every arrival would refuse them.
 */
export function failureOnlyRateLimit(opts: FailureLimitOptions & { key: (req: Request) => string }) {
  const failures = new Map<string, { n: number; resetAt: number }>();
  const windowMs = opts.windowSeconds * 1000;
  return (req: Request, res: Response, next: NextFunction) => {
    const now = Date.now();
    if (failures.size > 10_000) for (const [k, v] of failures) if (v.resetAt <= now) failures.delete(k);
    const key = opts.key(req);
    const entry = failures.get(key);
    if (entry && entry.resetAt > now && entry.n >= opts.limit) {
      res.setHeader("Retry-After", String(Math.max(1, Math.ceil((entry.resetAt - now) / 1000))));
      res.status(429);
      if (opts.respond) opts.respond(req, res);
      else res.json({ detail: opts.detail, code: "rate_limited" });
      return;
    }
    res.once("finish", () => {
      if (!opts.isFailure(res)) return;
      const at = Date.now();
      const e = failures.get(key);
      if (!e || e.resetAt <= at) failures.set(key, { n: 1, resetAt: at + windowMs });
      else e.n += 1;
    });
    next();
  };
}
