import crypto from "node:crypto";
import { Router, type Request, type Response } from "express";
import { ApiError, Forbidden } from "../errors.js";
import type { Services } from "../services/context.js";
import { signIn, signOut } from "../services/sessions.js";
import { ssoSignOutUrl } from "../services/sso.js";
import { checkOrigin, clearSessionCookie, LOGIN_CSRF_COOKIE, LOGIN_CSRF_MAX_SECONDS, readCookie, setCookie, setSessionCookie } from "../http/session-cookie.js";
import { secretsEqual } from "../security/secrets.js";
import { layout } from "../web/layout.js";
import { providerSignOutBody, signInBody } from "../web/sign-in-page.js";
import type { LoginLimiters } from "./middleware.js";
import { noticeOf } from "./web-render.js";
import { formBody, safeNext, secureCookies, signedInForm } from "./web-session.js";

const NOTICES: Record<string, string> = {
  signed_out: "You are signed out.",
  session_ended: "Your session ended. Sign in again.",
  password_reset: "Your new password is set, and you are signed out everywhere. Sign in with it.",
};

/** What the sign-in page says when SF_PASSWORD_LOGIN=false and a password form is posted all the same. */
export const PASSWORD_LOGIN_DISABLED = "Password sign-in is turned off on this server: sign in with single sign-on.";

/**
 * The sign-in form's CSRF token. No session exists yet, so it is double-submitted: a random value
 * in a cookie scoped to /login and the same value in the form; another site can set neither.
 */
function loginCsrf(req: Request, res: Response, secure: boolean): string {
  const existing = readCookie(req, LOGIN_CSRF_COOKIE);
  const token = existing && /^[A-Za-z0-9_-]{43}$/.test(existing) ? existing : crypto.randomBytes(32).toString("base64url");
  // Set again each time the form is shown, so its life counts from the newest form.
  setCookie(res, LOGIN_CSRF_COOKIE, token, { path: "/login", secure, maxAgeSeconds: LOGIN_CSRF_MAX_SECONDS });
  return token;
}

interface SignInOptions {
  next: string | null;
  email?: string | undefined;
  error?: string | undefined;
  notice?: string | null | undefined;
}

function sendSignIn(s: Services, req: Request, res: Response, status: number, o: SignInOptions): void {
  const csrfToken = loginCsrf(req, res, secureCookies(s));
  const body = signInBody({ csrfToken, next: o.next, email: o.email, sso: s.config.sso?.buttonLabel ?? null, passwordLogin: s.config.passwordLogin });
  res
    .status(status)
    .type("html")
    .send(layout({ title: "Sign in", body, error: o.error, notice: o.notice }));
}

/** The sign-in page again, saying it is rate-limited (429; the limiter set Retry-After). */
export function sendSignInLimited(s: Services, req: Request, res: Response, detail: string): void {
  const body = (req.body ?? {}) as Record<string, unknown>;
  sendSignIn(s, req, res, 429, {
    error: `${detail}.`,
    email: typeof body.email === "string" ? body.email : undefined,
    next: safeNext(body.next),
  });
}

/**
 * `/login` and `/logout`. Signing in checks the password with the same service as
 * `POST /auth/token`, behind the same rate limiters (`login`), and creates a database session
 * whose secret goes into the `sf_session` cookie; then the browser returns to where it was going.
 * With SF_PASSWORD_LOGIN=false the page offers single sign-on alone and a posted form is refused
 * (routes/web-sso.ts has the single sign-on itself).
 */
export function authPages(s: Services, login: LoginLimiters): Router {
  const r = Router();
  const secure = secureCookies(s);

  r.get("/login", (req, res) => {
    const next = safeNext(req.query.next);
    if (req.webSession) return res.redirect(303, next ?? "/packages");
    const notice = noticeOf(req, NOTICES) ?? (req.sessionEnded ? NOTICES.session_ended! : null);
    sendSignIn(s, req, res, 200, { next, notice });
  });

  r.post(
    "/login",
    formBody,
    (req, res, next) => {
      // Refused before anything is checked or counted: no password is looked at.
      if (!s.config.passwordLogin) return sendSignIn(s, req, res, 403, { next: safeNext((req.body as Record<string, unknown> | undefined)?.next), error: PASSWORD_LOGIN_DISABLED });
      checkOrigin(req, s.config.publicUrl);
      const expected = readCookie(req, LOGIN_CSRF_COOKIE);
      const given = (req.body as Record<string, unknown> | undefined)?._csrf;
      if (!expected || typeof given !== "string" || !secretsEqual(given, expected)) {
        throw new Forbidden("csrf_failed", "The sign-in form expired or came from another site. Reload the page and sign in again.");
      }
      next();
    },
    login.perIp,
    login.perAccount,
    async (req, res) => {
      const body = req.body as Record<string, unknown>;
      const email = typeof body.email === "string" ? body.email : "";
      const password = typeof body.password === "string" ? body.password : "";
      const next = safeNext(body.next);
      if (email.trim() === "" || password === "") {
        return sendSignIn(s, req, res, 422, { email, next, error: "Enter your email and password." });
      }
      try {
        const { secret } = await signIn(s, email.slice(0, 254), password.slice(0, 1024), {
          address: req.ip,
          userAgent: req.get("user-agent"),
        });
        // The browser keeps the cookie as long as the session may live; the server's clock (its
        // expires_at and idle limit) still decides whether the session is valid.
        setSessionCookie(res, secret, s.config.sessionMaxHours * 3600, secure);
        res.redirect(303, next ?? "/packages");
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return sendSignIn(s, req, res, 401, { email, next, error: "Wrong email or password." });
        throw err;
      }
    },
  );

  r.post("/logout", ...signedInForm(s), async (req, res) => {
    const method = req.webSession!.signInMethod;
    await signOut(s, req.principal!);
    clearSessionCookie(res, secure);
    // SF_SSO_SIGN_OUT=provider: on to the provider's sign-out. A page that goes on by itself, not
    // a redirect: the pages' CSP (form-action 'self') stops a form's redirect to another site.
    const providerUrl = await ssoSignOutUrl(s, method);
    if (providerUrl)
      return res
        .status(200)
        .type("html")
        .send(layout({ title: "Signed out", body: providerSignOutBody(providerUrl), refreshTo: providerUrl }));
    res.redirect(303, "/login?notice=signed_out");
  });
  return r;
}
