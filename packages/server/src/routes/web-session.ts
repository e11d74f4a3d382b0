import express, { type NextFunction, type Request, type RequestHandler, type Response } from "express";
import { ApiError, Forbidden } from "../errors.js";
import type { Services } from "../services/context.js";
import type { components } from "../generated/api.js";
import { putFlash, resolveSession, takeFlashes, type ActiveSession } from "../services/sessions.js";
import { checkCsrfToken, checkOrigin, clearSessionCookie, readCookie, SESSION_COOKIE } from "../http/session-cookie.js";
import { pageSecurityHeaders } from "../http/security-headers.js";
import { can } from "../policies/index.js";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The web interface's session, when the request carries a valid one. */
      webSession?: ActiveSession;
      /** A session cookie came along but named no live session (expired, signed out). */
      sessionEnded?: boolean;
    }
  }
}

/** Whether cookies must be Secure: the server is reached over https. */
export function secureCookies(s: Services): boolean {
  return s.config.publicUrl.startsWith("https:");
}

/**
 * Pages hold personal data and CSRF tokens: never cached, never indexed, and under the page CSP
 * (no inline script or style, everything from /assets).
 */
export const pageHeaders: RequestHandler[] = [
  pageSecurityHeaders,
  (_req, res, next) => {
    res.setHeader("Cache-Control", "no-store");
    res.setHeader("X-Robots-Tag", "noindex, nofollow");
    next();
  },
];

/** Forms post `application/x-www-form-urlencoded`; small bodies only (uploads go to the API). */
export const formBody: RequestHandler = express.urlencoded({ extended: false, limit: "100kb", parameterLimit: 100 });

/**
 * Resolves the session cookie, if any, for every page: `req.webSession` and `req.principal`. A
 * cookie that names no live session is cleared, and the sign-in page says the session ended.
 */
export function loadSession(s: Services): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const secret = readCookie(req, SESSION_COOKIE);
    if (secret !== undefined) {
      try {
        const session = await resolveSession(s, secret);
        // Where the browser is goes with who it is: services record both in the audit trail.
        session.principal.client = { address: req.ip, userAgent: req.get("user-agent") };
        req.webSession = session;
        req.principal = session.principal;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) throw err;
        req.sessionEnded = true;
        clearSessionCookie(res, secureCookies(s));
      }
    }
    next();
  };
}

/**
 * A relative path on this server to return to after signing in, or null: only `/…` paths, never
 * `//host` or `/\host` (which browsers read as another site), no control characters, and never
 * the sign-in or sign-out pages themselves.
 */
export function safeNext(raw: unknown): string | null {
  if (typeof raw !== "string" || raw.length === 0 || raw.length > 2000) return null;
  // eslint-disable-next-line no-control-regex
  if (!raw.startsWith("/") || raw.startsWith("//") || /[\\\u0000-\u001f\u007f]/.test(raw)) return null;
  let u: URL;
  try {
    u = new URL(raw, "http://speedyfiles.invalid");
  } catch {
    return null;
  }
  if (u.origin !== "http://speedyfiles.invalid" || u.pathname === "/login" || u.pathname === "/logout") return null;
  const back = `${u.pathname}${u.search}${u.hash}`;
  // Dot segments collapse: `/.//evil.example` becomes `//evil.example`, another site again.
  return back.startsWith("//") ? null : back;
}

/** The sign-in page's URL that comes back to `next` (and says the session ended, when it did). */
export function signInUrl(next?: string | null, ended = false): string {
  const back = next ? safeNext(next) : null;
  const q = new URLSearchParams();
  if (back && back !== "/") q.set("next", back);
  if (ended) q.set("notice", "session_ended");
  const qs = q.toString();
  return qs ? `/login?${qs}` : "/login";
}

/** Pages for signed-in users: anyone else goes to the sign-in page, which brings them back here. */
export const requireSession: RequestHandler = (req, res, next) => {
  if (req.webSession) return next();
  const method = req.method.toUpperCase();
  res.redirect(303, signInUrl(method === "GET" || method === "HEAD" ? req.originalUrl : null, req.sessionEnded === true));
};

/** Admin pages: a user who is not an admin gets the 403 page. */
export const requireAdmin: RequestHandler = (req, _res, next) => {
  if (!req.webSession || !can(req.webSession.principal, "user.list")) throw new Forbidden("admin_required", "This page is for administrators only.");
  next();
};

/** The signed-in session of a page behind requireSession. */
export function sessionOf(req: Request): ActiveSession {
  if (!req.webSession) throw new Error("page route without requireSession");
  return req.webSession;
}

/**
 * Every form that changes something posts the session's CSRF token as `_csrf` (and comes from our
 * own origin when the browser says where it comes from): 403 page otherwise.
 */
export function checkFormCsrf(s: Services): RequestHandler {
  return (req, _res, next) => {
    checkOrigin(req, s.config.publicUrl);
    checkCsrfToken((req.body as Record<string, unknown> | undefined)?._csrf, sessionOf(req).csrfToken);
    next();
  };
}

/** What a signed-in page's POST goes through: the form body, then its CSRF token. */
export function signedInForm(s: Services): RequestHandler[] {
  return [requireSession, formBody, checkFormCsrf(s)];
}

/** What a page may be handed once after its form's redirect, by kind. */
export interface Flashes {
  token_created: components["schemas"]["TokenCreated"];
  webhook_created: components["schemas"]["WebhookCreated"];
  package_finalized: components["schemas"]["FinalizedPackage"];
}

/** The flash's key: its kind, and for a package's page the package (one page's flash is not another's). */
function flashKind(kind: keyof Flashes, scope?: string): string {
  return scope ? `${kind}:${scope}` : kind;
}

/**
 * Post/redirect/get for secrets shown once: the form stores the secret with the session (sealed,
 * in the database) and answers 303; the page it leads to takes it. A reload then shows nothing
 * new and sends nothing again.
 */
export async function flashFor<K extends keyof Flashes>(s: Services, req: Request, kind: K, value: Flashes[K], scope?: string): Promise<void> {
  await putFlash(s, sessionOf(req), flashKind(kind, scope), value);
}

/** Takes the session's flashes of a kind (oldest first); nothing after they were shown once. */
export async function takeFlash<K extends keyof Flashes>(s: Services, req: Request, kind: K, scope?: string): Promise<Flashes[K][]> {
  // Written by flashFor with this kind, under this session's key (a tampered row fails to open).
  return (await takeFlashes(s, sessionOf(req), flashKind(kind, scope))) as Flashes[K][];
}
