import { Forbidden, Gone, NotFound } from "../../errors.js";
import type { LinkedPackage } from "../../db/packages.js";
import { deadLinkReason } from "../../db/dead-links.js";
import { findLinkByHash, type LinkRow } from "../../db/links.js";
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

/**
 * Passes when the package has no password, or the recipient presents it (or a valid cookie of
 * the page): 403 `link_password_required` without, `link_password_wrong` with a wrong one (the
 * link limiters count those, per address and per link).
 */
export async function unlockLink(s: Services, l: LiveLink, access: LinkAccess): Promise<void> {
  const hash = l.pkg.password_hash;
  if (hash === null) return;
  if (access.cookie !== undefined && cookieValid(l, access.cookie, s.clock())) return;
  if (access.password === undefined || access.password === "") {
    throw new Forbidden("link_password_required", "These files are protected by a password; send it in X-Link-Password");
  }
  const verified = verifiedPasswords(s);
  const now = s.clock();
  if (verified.has(hash, access.password, now)) return;
  if (!(await verifyPassword(access.password, hash))) throw new Forbidden("link_password_wrong", "The password is wrong");
  verified.add(hash, access.password, now);
}

/** A live, unlocked link (the checks of every recipient operation that reads files). */
export async function openLink(s: Services, secret: string, access: LinkAccess): Promise<LiveLink> {
  const l = await liveLink(s, secret);
  await unlockLink(s, l, access);
  return l;
}
