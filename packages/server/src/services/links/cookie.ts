import crypto from "node:crypto";
import { secretsEqual } from "../../security/secrets.js";
import type { LiveLink } from "./access.js";

/** How long the page's password cookie lasts at most. */
export const LINK_COOKIE_MAX_SECONDS = 12 * 3600;

/**
 * The value of the page's cookie for a password-protected link: an expiry and an HMAC of the
 * link's id and that expiry under the package's password hash. Nothing is stored; only the server
 * (which holds the hash) can make one; it is not the password, and changing the password or
 * reaching the expiry ends it.
 */
export function linkCookie(l: LiveLink, now: Date): { value: string; maxAgeSeconds: number } {
  const until = Math.min(Math.floor(now.getTime() / 1000) + LINK_COOKIE_MAX_SECONDS, Math.floor(Date.parse(l.pkg.expires_at!) / 1000));
  return { value: `${until}.${cookieMac(l, until)}`, maxAgeSeconds: Math.max(0, until - Math.floor(now.getTime() / 1000)) };
}

function cookieMac(l: LiveLink, until: number): string {
  return crypto
    .createHmac("sha256", l.pkg.password_hash ?? "")
    .update(`speedyfiles link v1.${l.link.id}.${until}`)
    .digest("base64url");
}

export function cookieValid(l: LiveLink, value: string, now: Date): boolean {
  const m = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!m) return false;
  const until = Number(m[1]);
  return until > now.getTime() / 1000 && secretsEqual(m[2]!, cookieMac(l, until));
}
