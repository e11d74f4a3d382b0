import crypto from "node:crypto";
import { Router, type Request, type Response } from "express";
import { ApiError, Forbidden, ValidationFailed } from "../errors.js";
import type { Services } from "../services/context.js";
import * as reset from "../services/password-reset.js";
import { checkOrigin, clearSessionCookie, readCookie, setCookie } from "../http/session-cookie.js";
import { secretsEqual } from "../security/secrets.js";
import { forgotPasswordBody, resetPasswordBody } from "../web/password-reset-pages.js";
import type { ResetLimiters } from "./password-reset-limits.js";
import { email, formFields } from "./web-forms.js";
import { isFormError, noticeOf, renderPage } from "./web-render.js";
import { formBody, secureCookies } from "./web-session.js";

/**
 * The forms' CSRF token. Nobody is signed in, so it is double-submitted as the sign-in form's:
 * a random value in a cookie scoped to the form's path and the same value in the form.
 */
const CSRF_COOKIE = "sf_recovery_csrf";
const CSRF_MAX_SECONDS = 24 * 3600;
const FORGOT = "/forgot-password";
const RESET = "/reset-password";

const NOTICES = {
  sent: "If that address has an account, a link to choose a new password is on its way. It works once, for a short while; nothing arrived? Look in the spam folder, or ask again.",
};

function formCsrf(req: Request, res: Response, path: string, secure: boolean): string {
  const existing = readCookie(req, CSRF_COOKIE);
  const token = existing && /^[A-Za-z0-9_-]{43}$/.test(existing) ? existing : crypto.randomBytes(32).toString("base64url");
  setCookie(res, CSRF_COOKIE, token, { path, secure, maxAgeSeconds: CSRF_MAX_SECONDS });
  return token;
}

function checkCsrf(s: Services, req: Request): void {
  checkOrigin(req, s.config.publicUrl);
  const expected = readCookie(req, CSRF_COOKIE);
  const given = (req.body as Record<string, unknown> | undefined)?._csrf;
  if (!expected || typeof given !== "string" || !secretsEqual(given, expected)) {
    throw new Forbidden("csrf_failed", "The form expired or came from another site. Reload the page and try again.");
  }
}

function passwordLoginOn(s: Services): void {
  if (!s.config.passwordLogin) throw new Forbidden("password_login_disabled", "Password sign-in is turned off on this server: sign in through single sign-on.");
}

const sentence = (m: string) => (m.endsWith(".") ? m : `${m}.`);

interface FormState {
  error?: string | undefined;
  status?: number | undefined;
  email?: string | undefined;
  token?: string | undefined;
}

function sendForgot(s: Services, req: Request, res: Response, o: FormState = {}): void {
  const csrfToken = formCsrf(req, res, FORGOT, secureCookies(s));
  renderPage(req, res, { title: "Forgot your password?", notice: noticeOf(req, NOTICES), error: o.error, body: forgotPasswordBody({ csrfToken, email: o.email }) }, o.status);
}

function sendReset(s: Services, req: Request, res: Response, o: FormState = {}): void {
  const csrfToken = formCsrf(req, res, RESET, secureCookies(s));
  renderPage(
    req,
    res,
    { title: "Choose a new password", error: o.error, scripts: ["/assets/reset-password.js"], body: resetPasswordBody({ csrfToken, token: o.token }) },
    o.status,
  );
}

/** Either page again, saying it is rate-limited (429; the limiter set Retry-After). */
export function sendResetLimited(s: Services, req: Request, res: Response, detail: string): void {
  const f = formFields(req);
  if (req.path === RESET) sendReset(s, req, res, { error: sentence(detail), status: 429, token: f("token").slice(0, 200) });
  else sendForgot(s, req, res, { error: sentence(detail), status: 429, email: f("email").slice(0, 254) });
}

/**
 * `/forgot-password` (ask for a link) and `/reset-password` (the link's page: a new password),
 * with the same services and rate limits as the API. Both answer the same whatever the address;
 * a reset ends every web session of the account, this browser's included, and leads to the
 * sign-in page.
 */
export function passwordResetPages(s: Services, limits: ResetLimiters): Router {
  const r = Router();
  const csrf = (req: Request, _res: Response, next: () => void) => {
    passwordLoginOn(s);
    checkCsrf(s, req);
    next();
  };

  r.get(FORGOT, (req, res) => {
    passwordLoginOn(s);
    sendForgot(s, req, res);
  });

  r.post(FORGOT, formBody, csrf, limits.requestPerIp, limits.requestPerAddress, (req, res) => {
    const given = formFields(req)("email");
    try {
      reset.requestPasswordReset(s, email(given, "Email"), { address: req.ip, userAgent: req.get("user-agent") });
    } catch (err) {
      if (isFormError(err)) return sendForgot(s, req, res, { error: sentence(err.message), status: err.status, email: given.slice(0, 254) });
      throw err;
    }
    res.redirect(303, `${FORGOT}?notice=sent`);
  });

  r.get(RESET, (req, res) => {
    passwordLoginOn(s);
    sendReset(s, req, res);
  });

  r.post(RESET, formBody, csrf, limits.confirmPerIp, async (req, res) => {
    const f = formFields(req);
    const token = f("token").trim().slice(0, 200);
    try {
      if (f("new_password") !== f("confirm_password")) throw new ValidationFailed("The two new passwords differ.", "/body/confirm_password");
      await reset.confirmPasswordReset(s, token, f("new_password"), { address: req.ip, userAgent: req.get("user-agent") });
    } catch (err) {
      // The limiter counts invalid tokens as failures of this address.
      if (err instanceof ApiError) res.locals.errorCode = err.code;
      if (isFormError(err)) {
        const invalid = err.code === "reset_token_invalid";
        return sendReset(s, req, res, { error: sentence(err.message), status: err.status, token: invalid ? "" : token });
      }
      throw err;
    }
    // Every session of the account ended; this browser starts again at the sign-in page.
    clearSessionCookie(res, secureCookies(s));
    res.redirect(303, "/login?notice=password_reset");
  });

  return r;
}
