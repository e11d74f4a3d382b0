import type { Request, RequestHandler, Response } from "express";
import type { Services } from "../services/context.js";
import type { OperationId } from "../http/operations.js";
import { callRateLimit, failureRateLimit } from "../http/rate-limit.js";
import { rateLimitStore } from "../http/rate-limit-store.js";
import { linkHeaders } from "../http/security-headers.js";
import { sha256Hex } from "../security/secrets.js";
import { loginAccountKey } from "../services/users.js";
import type { ResetLimiters } from "./password-reset-limits.js";

/**
 * How a limited request from a page is answered: with a page. The pages live in routes/web*.ts,
 * which mount these limiters; app.ts hands the pages' answers in, so this file imports no page.
 */
export interface LimitedPages {
  /** A recipient's link page (`/l/…`) past a link limit (the limiter's headers are already set). */
  linkLimited(res: Response, detail: string): void;
  /** The sign-in page past a login limit. */
  signInLimited(req: Request, res: Response, detail: string): void;
  /** The Account page's password form past its account's login limit. */
  accountLimited(req: Request, res: Response, detail: string): void;
  /** The forgotten-password and reset pages past a password reset limit. */
  resetLimited(req: Request, res: Response, detail: string): void;
}

const LINK_OPERATIONS: OperationId[] = ["getLink", "uploadLinkFile", "downloadLinkFile", "headLinkFile", "downloadLinkArchive", "headLinkArchive", "completeLink"];

/**
 * Link guessing: failed lookups (unknown or dead links) and wrong passwords count per client address; past the limit
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
  // Wrong passwords are also counted per package, from every address together, by the service
  // that checks them (services/links/access.ts unlockLink): counted before the check, so guesses
  // in flight at once cannot pass the limit together.
  return perIp;
}

/** The login rate limits: failed password checks per client address and per account. */
export interface LoginLimiters {
  perIp: RequestHandler;
  perAccount: RequestHandler;
  /**
   * The per-account limit for a signed-in user's own password check (the Account page's
   * "current password"): the same counter as `perAccount`, keyed by the session's user, so a
   * stolen session cannot try the account's password there without limit. Mount it after the
   * session check; the route sets `res.locals.errorCode = "credentials_invalid"` on a wrong one.
   */
  currentPassword: RequestHandler;
}

/** The account a password check is for, when the request names it by session, not by email. */
const signedInAccount = new WeakMap<Request, string>();

const ACCOUNT_LIMITED_DETAIL = "Too many wrong passwords for this account; try again later";

/**
 * Built once per app and used by both ways of signing in with a password, `POST /auth/token` and
 * the sign-in page, so their failures count toward the same limits: an attacker cannot get twice
 * the guesses by alternating. A failure is an answer 401; both read `email` from the body. A
 * limited sign-in page answers a page, the API `{"detail", "code"}`.
 */
export function loginLimiters(s: Services, pages: LimitedPages): LoginLimiters {
  const limit = (opts: { limit: number; detail: string; key?: (req: Request) => string | Promise<string>; prefix: string }) =>
    failureRateLimit({
      ...opts,
      store: rateLimitStore(s.db, opts.prefix),
      // A refused sign-in (401), or a wrong current password of a signed-in user (its page
      // answers 422: the session itself is valid).
      isFailure: (res) => res.statusCode === 401 || res.locals.errorCode === "credentials_invalid",
      windowSeconds: s.config.loginWindowSeconds,
      respond: (req: Request, res: Response) => {
        if (req.originalUrl.startsWith("/api/")) res.json({ detail: opts.detail, code: "rate_limited" });
        else if (signedInAccount.has(req)) pages.accountLimited(req, res, ACCOUNT_LIMITED_DETAIL);
        else pages.signInLimited(req, res, opts.detail);
      },
    });
  // One limiter (one store: express-rate-limit refuses a store shared by two) for both ways of
  // naming the account: the email of a sign-in, or the session of a password change.
  const perAccount = limit({
    prefix: "login-account",
    limit: s.config.loginMaxFailuresPerAccount,
    // The account the email reaches, however it is spelled (services/users.ts).
    key: (req) => signedInAccount.get(req) ?? loginAccountKey(s, String((req.body as { email?: unknown } | undefined)?.email ?? "")),
    detail: "Too many failed login attempts for this account; try again later",
  });
  return {
    perIp: limit({ prefix: "login-ip", limit: s.config.loginMaxFailuresPerIp, detail: "Too many failed login attempts from this address; try again later" }),
    perAccount,
    currentPassword: (req, res, next) => {
      signedInAccount.set(req, `user:${req.principal!.userId}`);
      return perAccount(req, res, next);
    },
  };
}

/** What runs for one operation after authentication and validation, before its handler: rate limits and link headers. */
export function operationMiddleware(s: Services, linkLimiter: RequestHandler, login: LoginLimiters, reset: ResetLimiters): Partial<Record<OperationId, RequestHandler[]>> {
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

  const before: Partial<Record<OperationId, RequestHandler[]>> = {
    createSessionToken: [perIp, perAccount],
    exchangeOidcToken: [oidcPerIp],
    resendPackage: [resends],
    requestPasswordReset: [reset.requestPerIp, reset.requestPerAddress],
    confirmPasswordReset: [reset.confirmPerIp],
  };
  for (const id of LINK_OPERATIONS) before[id] = [linkHeaders, linkLimiter];
  before.completeLink = [...before.completeLink!, completions];
  return before;
}
