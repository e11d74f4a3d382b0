import crypto from "node:crypto";
import { Router, type Request, type Response } from "express";
import { NotFound } from "../errors.js";
import type { Services } from "../services/context.js";
import { signOut } from "../services/sessions.js";
import { beginSsoSignIn, finishSsoSignIn, SSO_SIGN_IN_MINUTES, SsoSignInFailed } from "../services/sso.js";
import { readCookie, setCookie, setSessionCookie } from "../http/session-cookie.js";
import { failureRateLimit } from "../http/rate-limit.js";
import { rateLimitStore } from "../http/rate-limit-store.js";
import { layout } from "../web/layout.js";
import { ssoFailedBody } from "../web/sign-in-page.js";
import { safeNext, secureCookies } from "./web-session.js";

/**
 * The browser's key to the sign-ins it started: random, HttpOnly, SameSite=Lax (sent on the
 * provider's redirect back, a top-level GET), scoped to /login/sso. Each sign-in under way is
 * bound to its SHA-256, so a callback carried into another browser (login CSRF, a leaked state)
 * finishes nothing. Kept across sign-ins, so two tabs signing in at once both finish.
 */
const SSO_COOKIE = "sf_sso";
const SSO_COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Sign-ins one client address may start in SSO_START_WINDOW_SECONDS: each is a row until it is
 * finished or swept. Far above what an office behind one address needs, far below a flood.
 */
const SSO_STARTS_PER_ADDRESS = 200;
const SSO_START_WINDOW_SECONDS = 600;

function sendFailed(res: Response, status: number, detail: string): void {
  res
    .status(status)
    .type("html")
    .send(layout({ title: "Single sign-on did not work", body: ssoFailedBody(detail) }));
}

/**
 * Single sign-on through the OpenID provider (services/sso.ts): `/login/sso` starts it (the
 * sign-in page's button) and sends the browser to the provider; `/login/sso/callback` (the
 * redirect URI registered there) finishes it with a session. A refusal is a page saying why,
 * never a 500.
 */
export function ssoPages(s: Services): Router {
  const r = Router();
  const secure = secureCookies(s);
  const enabled = (_req: Request, _res: Response, next: () => void) => {
    if (!s.config.sso) throw new NotFound("not_found", "Single sign-on is not set up on this server.");
    next();
  };

  const starts = failureRateLimit({
    limit: SSO_STARTS_PER_ADDRESS,
    windowSeconds: SSO_START_WINDOW_SECONDS,
    // Every start counts, whatever its answer.
    isFailure: () => true,
    detail: "Too many sign-ins were started from this address; try again in a few minutes",
    respond: (_req, res) => sendFailed(res, 429, "Too many sign-ins were started from this address. Wait a few minutes, then try again."),
    store: rateLimitStore(s.db, "sso-start"),
  });

  r.get("/login/sso", enabled, starts, async (req, res) => {
    const next = safeNext(req.query.next);
    if (req.webSession) return res.redirect(303, next ?? "/packages");
    const existing = readCookie(req, SSO_COOKIE);
    const browser = existing && SSO_COOKIE_VALUE.test(existing) ? existing : crypto.randomBytes(32).toString("base64url");
    try {
      const url = await beginSsoSignIn(s, browser, next);
      setCookie(res, SSO_COOKIE, browser, { path: "/login/sso", secure, maxAgeSeconds: SSO_SIGN_IN_MINUTES * 60 });
      res.redirect(303, url);
    } catch (err) {
      if (err instanceof SsoSignInFailed) return sendFailed(res, err.status, err.message);
      throw err;
    }
  });

  r.get("/login/sso/callback", enabled, async (req, res) => {
    // The parameters exactly as the provider sent them (openid-client checks `state` and `iss`).
    const q = req.originalUrl.indexOf("?");
    const params = new URLSearchParams(q >= 0 ? req.originalUrl.slice(q + 1) : "");
    try {
      const { secret, next } = await finishSsoSignIn(s, readCookie(req, SSO_COOKIE), params, { address: req.ip, userAgent: req.get("user-agent") });
      // A browser that was signed in already (another tab) gets the new session; the old one ends.
      if (req.webSession) await signOut(s, req.webSession.principal);
      setSessionCookie(res, secret, s.config.sessionMaxHours * 3600, secure);
      res.redirect(303, safeNext(next) ?? "/packages");
    } catch (err) {
      if (err instanceof SsoSignInFailed) return sendFailed(res, err.status, err.message);
      throw err;
    }
  });
  return r;
}
