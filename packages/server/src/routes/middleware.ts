import type { Request, RequestHandler, Response } from "express";
import type { Services } from "../services/context.js";
import type { OperationId } from "../http/operations.js";
import { callRateLimit, failureOnlyRateLimit, failureRateLimit } from "../http/rate-limit.js";
import { rateLimitStore } from "../http/rate-limit-store.js";
import { linkHeaders } from "../http/security-headers.js";
import { sha256Hex } from "../security/secrets.js";

/**
 * How a limited request from a page is answered: with a page. The pages live in routes/web*.ts,
 * which mount these limiters; app.ts hands the pages' answers in, so this file imports no page.
 */
export interface LimitedPages {
  /** A recipient's link page (`/l/…`) past a link limit (the limiter's headers are already set). */
  linkLimited(res: Response, detail: string): void;
  /** The sign-in page past a login limit. */
  signInLimited(req: Request, res: Response, detail: string): void;
}

const LINK_OPERATIONS: OperationId[] = ["getLink", "uploadLinkFile", "downloadLinkFile", "headLinkFile", "downloadLinkArchive", "headLinkArchive", "completeLink"];

/**
 * Link guessing: failed lookups (unknown or dead links) count per client address; past the limit
 * every link request from that address gets 429 until the window passes. Successful requests are
 * not counted, so a recipient with a valid link is never slowed down by this. One counter for the
 * link pages and the JSON API together.
 */
export function linkLookupLimiter(s: Services, pages: LimitedPages): RequestHandler {
  const wrongPassword = (res: Response) => res.locals.errorCode === "link_password_wrong";
  // The link page answers a person, in HTML; the JSON API keeps `{"detail", "code"}`.
  const respond = (detail: string) => (req: Request, res: Response) => {
    if (req.originalUrl.startsWith("/l/")) pages.linkLimited(res, detail);
    else res.json({ detail, code: "rate_limited" });
  };
  const perIpDetail = "Too many failed link lookups from this address; try again later";
  const perIp = failureRateLimit({
    limit: s.config.linkMaxFailuresPerIp,
    windowSeconds: s.config.linkWindowSeconds,
    isFailure: (res) => res.statusCode === 404 || res.statusCode === 410 || wrongPassword(res),
    detail: perIpDetail,
    respond: respond(perIpDetail),
    store: rateLimitStore(s.db, "link-lookup"),
  });
  // A password-protected link also counts its wrong passwords from every address together, so
  // guessing from many addresses gets no further than from one.
  const perLinkDetail = "Too many wrong passwords for this link; try again later";
  const perLink = failureOnlyRateLimit({
    limit: s.config.linkMaxPasswordFailures,
    windowSeconds: s.config.linkWindowSeconds,
    key: (req) => `link:${sha256Hex(String(req.params.link ?? req.params.secret ?? ""))}`,
    isFailure: wrongPassword,
    detail: perLinkDetail,
    respond: respond(perLinkDetail),
    store: rateLimitStore(s.db, "link-password"),
  });
  // Only a request that presents a password can be a wrong one: the others (every download of a
  // link that has no password, or is already unlocked by its cookie) skip the per-link counter,
  // which on PostgreSQL is a database read.
  const presentsPassword = (req: Request) => req.get("x-link-password") !== undefined || (req.method === "POST" && req.originalUrl.startsWith("/l/"));
  return (req, res, next) => {
    void perIp(req, res, (err?: unknown) => (err ? next(err) : presentsPassword(req) ? perLink(req, res, next) : next()));
  };
}

/** The login rate limits: failed password checks per client address and per account. */
export interface LoginLimiters {
  perIp: RequestHandler;
  perAccount: RequestHandler;
}

/**
 * Built once per app and used by both ways of signing in with a password, `POST /auth/token` and
 * the sign-in page, so their failures count toward the same limits: an attacker cannot get twice
 * the guesses by alternating. A failure is an answer 401; both read `email` from the body. A
 * limited sign-in page answers a page, the API `{"detail", "code"}`.
 */
export function loginLimiters(s: Services, pages: LimitedPages): LoginLimiters {
  const limit = (opts: { limit: number; detail: string; key?: (req: Request) => string; prefix: string }) =>
    failureRateLimit({
      ...opts,
      store: rateLimitStore(s.db, opts.prefix),
      isFailure: (res) => res.statusCode === 401,
      windowSeconds: s.config.loginWindowSeconds,
      respond: (req: Request, res: Response) => {
        if (req.originalUrl.startsWith("/api/")) res.json({ detail: opts.detail, code: "rate_limited" });
        else pages.signInLimited(req, res, opts.detail);
      },
    });
  return {
    perIp: limit({ prefix: "login-ip", limit: s.config.loginMaxFailuresPerIp, detail: "Too many failed login attempts from this address; try again later" }),
    perAccount: limit({
      prefix: "login-account",
      limit: s.config.loginMaxFailuresPerAccount,
      key: (req) =>
        `account:${String((req.body as { email?: unknown } | undefined)?.email ?? "")
          .trim()
          .toLowerCase()}`,
      detail: "Too many failed login attempts for this account; try again later",
    }),
  };
}

/** What runs for one operation after authentication and validation, before its handler: rate limits and link headers. */
export function operationMiddleware(s: Services, linkLimiter: RequestHandler, login: LoginLimiters): Partial<Record<OperationId, RequestHandler[]>> {
  const { perIp, perAccount } = login;
  // Each "done" of an inbound link may email its owner: a few per link and 10 minutes at most.
  const completions = callRateLimit({
    limit: 10,
    windowSeconds: 600,
    key: (req: Request) => `complete:${sha256Hex(String(req.params.link))}`,
    detail: "This link was marked done too often; try again in a few minutes",
    store: rateLimitStore(s.db, "link-complete"),
  });

  // Each resend emails every recipient: 3 per package an hour. Only resends that happened count
  // (2xx): another user's attempts (403) or one with no live link (409) must not use the owner's
  // budget. A request is counted on arrival and un-counted when its answer is not a 2xx, so
  // resends at once cannot pass the limit together.
  const resends = failureRateLimit({
    limit: 3,
    windowSeconds: 3600,
    key: (req: Request) => `resend:${String(req.params.id)}`,
    isFailure: (res) => res.statusCode >= 200 && res.statusCode < 300,
    detail: "This package's links were sent again 3 times in the last hour; try again later",
    store: rateLimitStore(s.db, "package-resend"),
  });

  // Keyless CI exchanges: refused ID tokens (401, 403) count per address like failed logins, on
  // their own counter (a pipeline's runners must not lock out people signing in from the office).
  const oidcPerIp = failureRateLimit({
    limit: s.config.loginMaxFailuresPerIp,
    windowSeconds: s.config.loginWindowSeconds,
    isFailure: (res) => res.statusCode === 401 || res.statusCode === 403,
    detail: "Too many refused ID tokens from this address; try again later",
    store: rateLimitStore(s.db, "oidc-ip"),
  });

  const before: Partial<Record<OperationId, RequestHandler[]>> = { createSessionToken: [perIp, perAccount], exchangeOidcToken: [oidcPerIp], resendPackage: [resends] };
  for (const id of LINK_OPERATIONS) before[id] = [linkHeaders, linkLimiter];
  before.completeLink = [...before.completeLink!, completions];
  return before;
}
