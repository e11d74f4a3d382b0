import type { components } from "../../generated/api.js";
import { Conflict, NotFound, PolicyViolation, ValidationFailed } from "../../errors.js";
import { activatePackage, findPackage, revokePackageRow, setPackageLinkHash } from "../../db/packages.js";
import { largestFileSize, packageUsage } from "../../db/files.js";
import { openUploadUsage } from "../../db/uploads.js";
import { insertDeadLink } from "../../db/dead-links.js";
import { findLink, listLinks, replaceLinkHash, revokeLinkRow, usedUpFileCounts, type LinkRow } from "../../db/links.js";
import { latestLinkMail } from "../../db/mail-outbox.js";
import { generateLinkSecret, sha256Hex } from "../../security/secrets.js";
import { effectiveStatus, toLinkView } from "../views.js";
import { emit, type MintedLink } from "../../events/emit.js";
import { addDays, type Principal, type Services } from "../context.js";
import { packageDetail } from "./detail.js";
import { ownedPackage, lockOwnedPackage } from "./owned.js";
import { checkFileSize, checkPackage, checkRecipients, type EffectiveRules } from "../../policies/instance-rules.js";
import type { PackageRow } from "../../db/packages.js";
import { rulesForRole } from "../policy.js";

type Schemas = components["schemas"];

/**
 * `POST /packages/{id}/finalize`: draft → active. Mints each recipient's link (only its hash is
 * stored) and sets the expiry under the package's lock, and queues every recipient's email
 * with their own link in the same transaction: the mail worker sends it, with retries, so an SMTP
 * server that is down or slow neither loses the email nor holds this answer. With
 * `notify_recipients: false` nobody is emailed: the answer's links are the only copy.
 * The policy is checked again as it is now: a draft made under older rules does not leave.
 */
export async function finalizePackage(s: Services, user: Principal, id: string, opts: Schemas["FinalizeRequest"] = {}): Promise<Schemas["FinalizedPackage"]> {
  const now = s.clock();
  const rules = await rulesForRole(s, user.role);
  const minted = await s.db.transaction(async (trx) => {
    const locked = await lockOwnedPackage(trx, user, id, "package.share");
    if (locked.status !== "draft") {
      throw new Conflict("package_not_draft", `Package is already ${effectiveStatus(locked, now)}; only a draft can be finalized`);
    }
    const unfinished = (await openUploadUsage(trx, id, now.toISOString())).count;
    if (unfinished > 0) {
      throw new Conflict(
        "uploads_unfinished",
        `${unfinished === 1 ? "An upload of this package is" : `${unfinished} uploads of this package are`} unfinished; finish them, or cancel them (DELETE on the upload's URL), before finalizing`,
      );
    }
    if (locked.direction === "outbound" && (await packageUsage(trx, id)).count === 0) {
      throw new ValidationFailed("An outbound package needs at least one file before it is finalized", "/files", "package_empty");
    }
    await checkDraftAgainstPolicy(trx, rules, locked);
    await activatePackage(trx, id, {
      finalized_at: now.toISOString(),
      expires_at: addDays(now, locked.ttl_days).toISOString(),
    });
    const out = await mintLinks(trx, id, (l) => l.revoked_at === null, undefined, now);
    await emit(trx, s, { type: "package.finalized", pkg: locked, links: out, ...(opts.notify_recipients === false ? { mail: false } : {}) }, user);
    return out;
  });
  return linksAnswer(s, id, minted);
}

/**
 * A draft against the rules of the moment it is sent (they may have changed since it was made):
 * its lifetime, recipients, password, encryption and largest file. Refused with the rule named and
 * what to do, for a draft cannot change all of these (its recipients and password are fixed).
 */
async function checkDraftAgainstPolicy(trx: Services["db"], rules: EffectiveRules, p: PackageRow): Promise<void> {
  const recipients = (await listLinks(trx, p.id)).filter((l) => l.revoked_at === null).map((l) => l.recipient_email);
  try {
    checkPackage(rules, {
      ttlDays: p.ttl_days,
      recipients,
      direction: p.direction,
      hasPassword: p.password_hash !== null,
      encrypted: p.encryption_scheme !== null,
    });
    checkFileSize(rules, await largestFileSize(trx, p.id), "/files");
  } catch (err) {
    if (!(err instanceof PolicyViolation)) throw err;
    const fix = err.rule === "min_ttl_days" || err.rule === "max_ttl_days" ? "change its ttl_days" : err.rule === "max_file_bytes" ? "remove the file" : "create a new package";
    throw new PolicyViolation(err.rule!, err.limit!, `This draft breaks the policy as it is now (${lowerFirst(err.message)}); ${fix}, then send it`, err.errors?.[0]?.path);
  }
}

const lowerFirst = (t: string) => t.charAt(0).toLowerCase() + t.slice(1);

/** New secrets for the package's links that `which` selects; the old hashes die with `reason` (if any). */
async function mintLinks(trx: Services["db"], id: string, which: (l: LinkRow) => boolean, reason: "replaced" | undefined, now: Date): Promise<MintedLink[]> {
  const out: MintedLink[] = [];
  const all = await listLinks(trx, id);
  for (const link of all.filter(which)) {
    const secret = generateLinkSecret();
    if (reason) await insertDeadLink(trx, link.link_hash, now.toISOString(), reason);
    await replaceLinkHash(trx, link.id, sha256Hex(secret));
    // packages.link_hash mirrors the first recipient's link (the one-recipient shape of before),
    // for tools and an older server reading it; lookups use package_links only.
    if (link.id === all[0]?.id) await setPackageLinkHash(trx, id, sha256Hex(secret));
    out.push({ link, secret });
  }
  return out;
}

/**
 * The answer of finalize and resend: each new link with the state of its email (queued in the
 * transaction, sent by the mail worker; usually still `queued` here).
 */
async function linksAnswer(s: Services, id: string, minted: MintedLink[]): Promise<Schemas["FinalizedPackage"]> {
  const p = (await findPackage(s.db, id))!;
  const detail = await packageDetail(s, p);
  const links: Schemas["FinalizedLink"][] = minted.map(({ link, secret }) => {
    const view = detail.links!.find((v) => v.id === link.id)!;
    return {
      ...view,
      magic_link: `${s.config.publicUrl}/l/${secret}`,
      expires_at: p.expires_at!,
      email_sent: view.mail_state === "sent",
      email_error: view.mail_error,
    };
  });
  return {
    ...detail,
    magic_link: links[0]?.magic_link ?? "",
    email_sent: links.every((l) => l.email_sent),
    email_error: links.find((l) => l.email_error !== null)?.email_error ?? null,
    links,
  };
}

/**
 * `POST /packages/{id}/resend`: only hashes of links are stored, so each recipient whose link is
 * not revoked gets a new secret (its counts and events stay with the link) and an email; the
 * previous URL answers 410 `link_replaced`. The recipients are checked against the policy's
 * domains again: a new link is mailed.
 */
export async function resendPackage(s: Services, user: Principal, id: string): Promise<Schemas["FinalizedPackage"]> {
  const now = s.clock();
  const rules = await rulesForRole(s, user.role);
  const minted = await s.db.transaction(async (trx) => {
    const locked = await lockOwnedPackage(trx, user, id, "package.share");
    const status = effectiveStatus(locked, now);
    if (status !== "active") throw new Conflict("package_not_active", `Package is ${status}; only an active package's links can be sent again`);
    const live = (await listLinks(trx, id)).filter((l) => l.revoked_at === null);
    if (live.length === 0) {
      throw new Conflict("package_not_active", "Every recipient's link is revoked; there is no link to send again");
    }
    // A new link is mailed: its recipient must still be one the policy allows.
    checkRecipients(
      { ...rules, max_recipients: null },
      live.map((l) => l.recipient_email),
      (i) => `/links/${i}/recipient_email`,
    );
    const out = await mintLinks(trx, id, (l) => l.revoked_at === null, "replaced", now);
    await emit(trx, s, { type: "package.links_resent", pkg: locked, links: out }, user);
    return out;
  });
  return linksAnswer(s, id, minted);
}

/**
 * `POST /packages/{id}/links/{link_id}/revoke`: that recipient's link only (409 `link_revoked`
 * when it already is). Revoking the last live link revokes the package too: with no link
 * left it is not live, and its status says so (`package.revoked` is sent as for a whole revoke).
 */
export async function revokePackageLink(s: Services, user: Principal, id: string, linkId: string): Promise<Schemas["PackageLink"]> {
  const now = s.clock();
  await s.db.transaction(async (trx) => {
    const locked = await lockOwnedPackage(trx, user, id, "link.revoke");
    if (locked.finalized_at === null) throw new Conflict("package_not_active", "A draft has no live links yet");
    const link = await findLink(trx, id, linkId);
    if (!link) throw new NotFound("link_not_found", "This package has no such link");
    if (link.revoked_at !== null) throw new Conflict("link_revoked", "This recipient's link is already revoked");
    await revokeLinkRow(trx, linkId, now.toISOString());
    await emit(trx, s, { type: "link.revoked", pkg: locked, link }, user);
    const lastLink = (await listLinks(trx, id)).every((l) => l.id === linkId || l.revoked_at !== null);
    if (lastLink && effectiveStatus(locked, now) === "active" && (await revokePackageRow(trx, id, now.toISOString()))) {
      await emit(trx, s, { type: "package.revoked", pkg: locked }, user);
    }
  });
  const p = await ownedPackage(s, user, id, "package.read");
  const fresh = (await findLink(s.db, id, linkId))!;
  const usedUp = p.max_downloads !== null && p.file_count > 0 && ((await usedUpFileCounts(s.db, id, p.max_downloads)).get(linkId) ?? 0) >= p.file_count;
  return toLinkView(fresh, p, s.clock(), usedUp, (await latestLinkMail(s.db, id)).get(linkId));
}
