import type { Request, Response } from "express";
import { Forbidden } from "../errors.js";
import { secretsEqual } from "../security/secrets.js";

/**
 * The browser session's cookie and the CSRF rules around it, in one place for the pages and the
 * API. The cookie is HttpOnly (no script reads it), SameSite=Lax (other sites' subrequests and
 * form posts go without it) and Secure when SF_PUBLIC_URL is https. Its value is the session's
 * secret; the database holds only its SHA-256.
 */
export const SESSION_COOKIE = "sf_session";

/** The sign-in form's double-submit cookie: a login form posted from another site lacks it. */
export const LOGIN_CSRF_COOKIE = "sf_login_csrf";

/** Where page scripts put the session's CSRF token for the API. */
export const CSRF_HEADER = "X-CSRF-Token";

/** The value of one cookie of the request, if sent (the first, when a name repeats). */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return undefined;
}

/** How long the sign-in form's CSRF cookie lives after the form was last shown. */
export const LOGIN_CSRF_MAX_SECONDS = 24 * 3600;

/** Where a cookie goes and how long it lives (seconds, counted by the browser from receipt). */
export interface CookieOptions {
  path: string;
  secure: boolean;
  maxAgeSeconds: number;
}

// Cookie values and paths we set are base64url, digits and dots, and our own URL paths: nothing to
// quote or escape. Anything else is a programming error, refused rather than sent mangled.
const COOKIE_VALUE = /^[A-Za-z0-9._-]*$/;
const COOKIE_PATH = /^\/[\x21-\x3a\x3c-\x7e]*$/;

function cookieLine(name: string, value: string, attrs: string[], o: { path: string; secure: boolean }): string {
  if (!COOKIE_VALUE.test(value)) throw new Error(`cookie ${name}: value has characters a cookie cannot carry`);
  if (!COOKIE_PATH.test(o.path)) throw new Error(`cookie ${name}: path ${JSON.stringify(o.path)} cannot go in a cookie`);
  return [`${name}=${value}`, ...attrs, `Path=${o.path}`, "HttpOnly", ...(o.secure ? ["Secure"] : []), "SameSite=Lax"].join("; ");
}

/**
 * Sets an HttpOnly, SameSite=Lax cookie that lives `maxAgeSeconds` from when the browser gets it.
 * Only `Max-Age`, never `Expires`: an absolute date is read against the browser's clock, so a
 * server and a browser that disagree about the date would make the cookie die at once or outlive
 * its session. A client too old to know `Max-Age` keeps the cookie for its own session only (the
 * safe side). Whether a session or link is still valid is decided on the server, by its clock.
 */
export function setCookie(res: Response, name: string, value: string, o: CookieOptions): void {
  const maxAge = Math.max(0, Math.floor(o.maxAgeSeconds));
  res.append("Set-Cookie", cookieLine(name, value, [`Max-Age=${maxAge}`], o));
}

/** Removes a cookie: `Max-Age=0`, and an `Expires` in 1970 that is past on any clock. */
export function clearCookie(res: Response, name: string, o: { path: string; secure: boolean }): void {
  res.append("Set-Cookie", cookieLine(name, "", ["Max-Age=0", "Expires=Thu, 01 Jan 1970 00:00:00 GMT"], o));
}

/** The session cookie, living as long as the session may (`SF_SESSION_MAX_HOURS`). */
export function setSessionCookie(res: Response, secret: string, maxAgeSeconds: number, secure: boolean): void {
  setCookie(res, SESSION_COOKIE, secret, { path: "/", secure, maxAgeSeconds });
}

export function clearSessionCookie(res: Response, secure: boolean): void {
  clearCookie(res, SESSION_COOKIE, { path: "/", secure });
}

/** Methods that change something: these need the CSRF token when a cookie authenticates them. */
export function isUnsafeMethod(method: string): boolean {
  return !["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase());
}

/** 403 `csrf_failed` unless `given` is the session's CSRF token. */
export function checkCsrfToken(given: unknown, expected: string): void {
  if (typeof given !== "string" || !secretsEqual(given, expected)) {
    throw new Forbidden("csrf_failed", "This request did not carry the page's security token (CSRF); reload the page and try again");
  }
}

/**
 * An unsafe request that the browser says came from another site is refused whatever it carries:
 * a second line behind the CSRF token. Browsers send `Sec-Fetch-Site` (`same-origin` for our own
 * pages); older ones only `Origin`, which must then be ours. Our pages send
 * `Referrer-Policy: no-referrer`, under which a browser's `Origin` on a form post is `null`, so
 * `null` (like no header at all: programs) is judged by the token alone.
 */
export function checkOrigin(req: Request, publicUrl: string): void {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined) {
    if (site === "same-origin" || site === "none") return;
    throw new Forbidden("csrf_failed", "This request came from another site; it was refused");
  }
  const origin = req.headers.origin;
  if (origin === undefined || origin === "null") return;
  const own = [new URL(publicUrl).origin, `${req.protocol}://${req.headers.host ?? ""}`];
  if (!own.includes(origin)) throw new Forbidden("csrf_failed", "This request came from another site; it was refused");
}
