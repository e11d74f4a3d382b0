import type { Request, RequestHandler } from "express";
import type { Services } from "../services/context.js";
import type { OperationId } from "../http/operations.js";
import { callRateLimit, failureRateLimit } from "../http/rate-limit.js";
import { sha256Hex } from "../security/secrets.js";
import { linkHeaders, sendTooManyPage } from "./web.js";

const LINK_OPERATIONS: OperationId[] = [
  "getLink",
  "uploadLinkFile",
  "downloadLinkFile",
  "headLinkFile",
  "downloadLinkArchive",
  "headLinkArchive",
  "completeLink",
];

/**
 * Link guessing: failed lookups (unknown or dead links) count per client address; past the limit
 * every link request from that address gets 429 until the window passes. Successful requests are
 * not counted, so a recipient with a valid link is never slowed down by this. One counter for the
 * link pages and the JSON API together.
 */
export function linkLookupLimiter(s: Services): RequestHandler {
  const detail = "Too many failed link lookups from this address; try again later";
  return failureRateLimit({
    limit: s.config.linkMaxFailuresPerIp,
    windowSeconds: s.config.linkWindowSeconds,
    isFailure: (res) => res.statusCode === 404 || res.statusCode === 410,
    detail,
    // The link page answers a person, in HTML; the JSON API keeps `{"detail", "code"}`.
    respond: (req, res) => {
      if (req.originalUrl.startsWith("/l/")) sendTooManyPage(res);
      else res.json({ detail, code: "rate_limited" });
    },
  });
}

/** What runs for one operation after authentication and validation, before its handler: rate limits and link headers. */
export function operationMiddleware(s: Services, linkLimiter: RequestHandler): Partial<Record<OperationId, RequestHandler[]>> {
  const failedLogin = { isFailure: (res: { statusCode: number }) => res.statusCode === 401, windowSeconds: s.config.loginWindowSeconds };
  const perIp = failureRateLimit({
    ...failedLogin,
    limit: s.config.loginMaxFailuresPerIp,
    detail: "Too many failed login attempts from this address; try again later",
  });
  const perAccount = failureRateLimit({
    ...failedLogin,
    limit: s.config.loginMaxFailuresPerAccount,
    key: (req) => `account:${String((req.body as { email?: unknown } | undefined)?.email ?? "").trim().toLowerCase()}`,
    detail: "Too many failed login attempts for this account; try again later",
  });
  // Each "done" of an inbound link may email its owner: a few per link and 10 minutes at most.
  const completions = callRateLimit({
    limit: 10,
    windowSeconds: 600,
    key: (req: Request) => `complete:${sha256Hex(String(req.params.link))}`,
    detail: "This link was marked done too often; try again in a few minutes",
  });

  const before: Partial<Record<OperationId, RequestHandler[]>> = { createSessionToken: [perIp, perAccount] };
  for (const id of LINK_OPERATIONS) before[id] = [linkHeaders, linkLimiter];
  before.completeLink = [...before.completeLink!, completions];
  return before;
}
