import { Forbidden, Gone, NotFound, TooManyRequests } from "../../errors.js";
import type { LinkedPackage } from "../../db/packages.js";
import { deadLinkReason } from "../../db/dead-links.js";
import { findLinkByHash, type LinkRow } from "../../db/links.js";
import { decrementRateCounter, findRateCounter, incrementRateCounter, type RateCounter } from "../../db/rate-limits.js";
import { sha256Hex } from "../../security/secrets.js";
import { verifyPassword } from "../../security/passwords.js";
import { effectiveStatus } from "../packages.js";
import type { Services } from "../context.js";
import { cookieValid } from "./cookie.js";
import { verifiedPasswords } from "./verified-passwords.js";

/** The shape of a magic-link secret: base64url of 32 bytes. */
export function isLinkSecret(secret: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(secret);
}

/** A live recipient link and its package. */
export interface LiveLink {
  link: LinkRow;
  pkg: LinkedPackage;
}

/** What a recipient presents for a password-protected package: the password, or the page's cookie. */
export interface LinkAccess {
  password?: string | undefined;
  cookie?: string | undefined;
}

/**
 * The link behind a secret, if it is live. Unknown → 404; expired, revoked (the package or this
 * one link), purged, deleted, replaced by a newer link, or its owner's account disabled → 410.
 * The expiry is checked against the clock on every request, so no byte leaves after
 * `expires_at` even when the sweeper has not run yet.
 */
export async function liveLink(s: Services, secret: string): Promise<LiveLink> {
  const hash = isLinkSecret(secret) ? sha256Hex(secret) : undefined;
  const found = hash ? await findLinkByHash(s.db, hash) : undefined;
  if (!found) {
    const reason = hash ? await deadLinkReason(s.db, hash) : undefined;
    if (reason === "replaced") throw new Gone("link_replaced", "The sender sent you a newer link for these files; use the one in the latest email");
    if (reason === "deleted") throw new Gone("link_deleted", "The sender deleted these files");
    throw new NotFound("link_not_found", "This link does not exist");
  }
  const p = found.pkg;
  const status = effectiveStatus(p, s.clock());
  if (status === "expired" || p.purged_at !== null) throw new Gone("link_expired", "This link has expired");
  if (status === "revoked" || found.link.revoked_at !== null) throw new Gone("link_revoked", "This link was revoked by its sender");
  if (status !== "active") throw new Gone("link_unavailable", "This link is not active");
  // A disabled account shares nothing; re-enabling it brings its links back.
  if (p.owner_disabled) throw new Gone("link_unavailable", "This link is not available");
  return found;
}

/** The detail of a 429 past the per-package count of wrong passwords (the page shows it too). */
export const PASSWORD_LIMIT_DETAIL = "Too many wrong passwords for these files; try again later";

/**
 * The counter of one package's password checks in `rate_limits`: per package, not per link, so
 * every recipient's link and every link sent again share it. Stored as SHA-256, as the HTTP
 * limiters' keys are (http/rate-limit-store.ts).
 */
const passwordCounterKey = (packageId: string) => sha256Hex(`link-password:package:${packageId}`);

const passwordLimited = (c: RateCounter, now: number) => new TooManyRequests(PASSWORD_LIMIT_DETAIL, (c.resetAt - now) / 1000);

/**
 * Passes when the package has no password, or the recipient presents it (or a valid cookie of
 * the page): 403 `link_password_required` without, `link_password_wrong` with a wrong one, 429
 * once the package's wrong passwords reached SF_LINK_MAX_PASSWORD_FAILURES in the window (even
 * for the right one; the per-address limiter counts `link_password_wrong` answers too).
 *
 * A password is counted *before* it is checked, in one atomic statement (an upsert answering the
 * new count, db/rate-limits.ts): guesses in flight at once, through any process on the database,
 * each take a number, and only those numbered within the limit are checked. A right one gives its
 * number back, so only wrong ones stay counted; a password found right in the last minutes
 * (verified-passwords.ts) takes no number, so a browser fetching many files is never counted.
 */
export async function unlockLink(s: Services, l: LiveLink, access: LinkAccess): Promise<void> {
  const hash = l.pkg.password_hash;
  if (hash === null) return;
  if (access.cookie !== undefined && cookieValid(l, access.cookie, s.clock())) return;
  if (access.password === undefined || access.password === "") {
    throw new Forbidden("link_password_required", "These files are protected by a password; send it in X-Link-Password");
  }
  const limit = s.config.linkMaxPasswordFailures;
  const key = passwordCounterKey(l.pkg.id);
  const verified = verifiedPasswords(s);
  const at = s.clock();
  const now = at.getTime();
  if (verified.has(hash, access.password, at)) {
    const seen = await findRateCounter(s.db, key, now);
    if (seen && seen.hits >= limit) throw passwordLimited(seen, now);
    return;
  }
  const counted = await incrementRateCounter(s.db, key, now, s.config.linkWindowSeconds * 1000);
  if (counted.hits > limit) throw passwordLimited(counted, now);
  let right = false;
  try {
    right = await verifyPassword(access.password, hash);
  } finally {
    // Only wrong passwords stay counted (a failed check, the database away, counts as wrong).
    // The number goes back to the window that gave it: if that window passed during the check,
    // the new one keeps its count.
    if (right) await decrementRateCounter(s.db, key, counted.resetAt);
  }
  if (!right) throw new Forbidden("link_password_wrong", "The password is wrong");
  verified.add(hash, access.password, at);
}

/** A live, unlocked link (the checks of every recipient operation that reads files). */
export async function openLink(s: Services, secret: string, access: LinkAccess): Promise<LiveLink> {
  const l = await liveLink(s, secret);
  await unlockLink(s, l, access);
  return l;
}
