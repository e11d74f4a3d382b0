import type { Request, RequestHandler, Response } from "express";
import type { Services } from "../services/context.js";
import { failureRateLimit } from "../http/rate-limit.js";
import { rateLimitStore } from "../http/rate-limit-store.js";
import { signInEmail } from "../services/users.js";
import type { LimitedPages } from "./middleware.js";

/** The password reset limits: built once per app, for the API and the pages together. */
export interface ResetLimiters {
  /** Reset emails asked for from one client address (every request counts). */
  requestPerIp: RequestHandler;
  /** Reset emails asked for one email address, whether it has an account or not (every request counts). */
  requestPerAddress: RequestHandler;
  /** Unknown, used or expired reset tokens tried from one client address. */
  confirmPerIp: RequestHandler;
}

/**
 * Each reset request may send an email: a few per address and per client address in
 * `SF_PASSWORD_RESET_WINDOW_SECONDS`, counted whatever the outcome, so the answer (429 or not)
 * says nothing about whether the address has an account. Failed confirmations count per client
 * address like failed logins (a token cannot be guessed; this stops the hammering). The counters
 * live where the login ones do (the database on PostgreSQL: every process counts together). A
 * page is answered with a page, the API with `{"detail", "code"}`.
 */
export function resetLimiters(s: Services, pages: LimitedPages): ResetLimiters {
  const respond = (detail: string) => (req: Request, res: Response) => {
    if (req.originalUrl.startsWith("/api/")) res.json({ detail, code: "rate_limited" });
    else pages.resetLimited(req, res, detail);
  };
  const every = (prefix: string, limit: number, detail: string, key?: (req: Request) => string) =>
    failureRateLimit({
      limit,
      windowSeconds: s.config.passwordResetWindowSeconds,
      isFailure: () => true,
      detail,
      respond: respond(detail),
      store: rateLimitStore(s.db, prefix),
      ...(key ? { key } : {}),
    });
  const bodyEmail = (req: Request) => `email:${signInEmail(String((req.body as { email?: unknown } | undefined)?.email ?? ""))}`;
  const confirmDetail = "Too many invalid password reset links from this address; try again later";
  return {
    requestPerIp: every("reset-ip", s.config.passwordResetMaxPerIp, "Too many password reset requests from this address; try again later"),
    requestPerAddress: every("reset-address", s.config.passwordResetMaxPerAddress, "Too many password reset requests for this email address; try again later", bodyEmail),
    confirmPerIp: failureRateLimit({
      limit: s.config.loginMaxFailuresPerIp,
      windowSeconds: s.config.loginWindowSeconds,
      isFailure: (res) => res.locals.errorCode === "reset_token_invalid",
      detail: confirmDetail,
      respond: respond(confirmDetail),
      store: rateLimitStore(s.db, "reset-confirm-ip"),
    }),
  };
}
