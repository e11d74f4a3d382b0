import crypto from "node:crypto";
import type { components } from "../generated/api.js";
import { Conflict, Gone, NotFound, ValidationFailed } from "../errors.js";
import {
  activatePackage,
  deletePackageRow,
  findPackage,
  insertPackage,
  listPackageRows,
  lockPackage,
  revokePackageRow,
  updatePackageRow,
  setPackageLinkHash,
  type Direction,
  type PackageRow,
  type PackageCursor,
  type PackageStatus,
  type PackageWithCounts,
} from "../db/packages.js";
import { deleteFilesOf, listFiles, packageUsage, storageKeysOf } from "../db/files.js";
import { listEvents } from "../db/events.js";
import { openUploadIdsOf, openUploadUsage } from "../db/uploads.js";
import { insertDeadLink } from "../db/dead-links.js";
import {
  findLink,
  insertLink,
  listLinks,
  replaceLinkHash,
  resetLimitNotices,
  revokeLinkRow,
  usedUpFileCounts,
  type LinkRow,
  listRecipientsOf,
} from "../db/links.js";
import { hashPassword } from "../security/passwords.js";
import { queueBlobDeletions } from "../db/blob-deletions.js";
import { deleteQueuedBlobs } from "./blob-deletions.js";
import { latestLinkMail, type MailRow } from "../db/mail-outbox.js";
import { generateLinkSecret, sha256Hex } from "../security/secrets.js";
import { cleanOptionalText, cleanText } from "./text.js";
import { effectiveStatus, toFileView, toLinkView, toPackageView } from "./views.js";
import { emit, type MintedLink } from "../events/emit.js";
export { effectiveStatus, toFileView, toPackageView, type FileView, type PackageView } from "./views.js";
import { addDays, nowIso, type Principal, type Services } from "./context.js";
import { authorize, packageListScope } from "../policies/index.js";
import type { PackageAction } from "../policies/packages.js";
/** What may be done to an existing package (everything but creating one). */
type OnPackage = Exclude<PackageAction, "package.create">;
import type { LinkAction } from "../policies/links.js";

type Schemas = components["schemas"];
export type PackageDetail = Schemas["PackageDetail"];

export async function packageDetail(s: Services, p: PackageWithCounts): Promise<PackageDetail> {
  const now = s.clock();
  const links = p.finalized_at === null ? [] : await listLinks(s.db, p.id);
  const usedUp = p.max_downloads !== null && p.file_count > 0 && links.length > 0 ? await usedUpFileCounts(s.db, p.id, p.max_downloads) : new Map<string, number>();
  const mail = links.length > 0 ? await latestLinkMail(s.db, p.id) : new Map<string, MailRow>();
  return {
    ...toPackageView(p, now),
    files: (await listFiles(s.db, p.id)).map(toFileView),
    links: links.map((l) => toLinkView(l, p, now, (usedUp.get(l.id) ?? 0) >= p.file_count && p.max_downloads !== null, mail.get(l.id))),
  };
}

/** The recipients of a create request: `recipients`, or the one-recipient shorthand `recipient_email`. */
function recipientsOf(input: Schemas["PackageCreateRequest"]): { email: string; name: string | null }[] {
  if (input.recipients !== undefined && (input.recipient_email !== undefined || input.recipient_name !== undefined)) {
    throw new ValidationFailed("Give either recipient_email (and recipient_name) or recipients, not both", "/body/recipients");
  }
  if (input.recipients === undefined) {
    if (input.recipient_email === undefined) throw new ValidationFailed("recipient_email or recipients is required", "/body/recipient_email");
    return [{ email: input.recipient_email.trim(), name: cleanOptionalText(input.recipient_name, "/body/recipient_name") }];
  }
  const seen = new Set<string>();
  return input.recipients.map((r, i) => {
    const email = r.email.trim();
    if (seen.has(email.toLowerCase())) throw new ValidationFailed(`${email} is listed twice`, `/body/recipients/${i}/email`);
    seen.add(email.toLowerCase());
    return { email, name: cleanOptionalText(r.name, `/body/recipients/${i}/name`) };
  });
}

/** A link password: printable ASCII, 8–128, no space first or last (`X-Link-Password` is a header: bytes, trimmed). */
export const LINK_PASSWORD = /^[!-~][ -~]{6,126}[!-~]$/;

/** `POST /packages`: a draft, with one (not yet live) link row per recipient. */
export async function createPackage(s: Services, user: Principal, input: Schemas["PackageCreateRequest"]): Promise<PackageDetail> {
  authorize(user, "package.create");
  if (input.ttl_days > s.config.maxTtlDays) {
    throw new ValidationFailed(`ttl_days must be at most ${s.config.maxTtlDays} on this server`, "/body/ttl_days");
  }
  const title = cleanText(input.title, "/body/title");
  if (title === "") throw new ValidationFailed("title must not be blank", "/body/title");
  const recipients = recipientsOf(input);
  if (input.direction === "inbound") {
    // An upload request keeps one link: its recipient's uploads and "done" are the package's.
    if (recipients.length !== 1) throw new ValidationFailed("An inbound package has exactly one recipient", "/body/recipients");
    if (input.max_downloads !== undefined) throw new ValidationFailed("max_downloads applies to outbound packages only", "/body/max_downloads");
    if (input.password !== undefined) throw new ValidationFailed("password applies to outbound packages only", "/body/password");
  }
  if (input.password !== undefined && !LINK_PASSWORD.test(input.password)) {
    throw new ValidationFailed(
      "password must be 8 to 128 printable ASCII characters (letters, digits, spaces, symbols; no space first or last): recipients send it in an HTTP header, which carries no other characters",
      "/body/password",
    );
  }
  const first = recipients[0]!;
  const now = nowIso(s.clock);
  const row: PackageRow = {
    id: crypto.randomUUID(),
    owner_id: user.userId,
    title,
    recipient_email: first.email,
    recipient_name: first.name,
    direction: input.direction,
    status: "draft",
    ttl_days: input.ttl_days,
    message: cleanOptionalText(input.message, "/body/message", { multiline: true }),
    link_hash: null,
    created_at: now,
    finalized_at: null,
    expires_at: null,
    revoked_at: null,
    completed_at: null,
    completed_file_count: 0,
    purged_at: null,
    max_downloads: input.max_downloads ?? null,
    password_hash: input.password === undefined ? null : await hashPassword(input.password),
    notify_on_download: input.notify_on_download ?? true,
  };
  await s.db.transaction(async (trx) => {
    await insertPackage(trx, row);
    for (const [position, r] of recipients.entries()) {
      // Until finalize a link's hash is random bytes: no secret hashes to it, so it opens nothing.
      await insertLink(trx, {
        id: crypto.randomUUID(),
        package_id: row.id,
        recipient_email: r.email,
        recipient_name: r.name,
        link_hash: crypto.randomBytes(32).toString("hex"),
        position,
        created_at: now,
        revoked_at: null,
        download_count: 0,
        first_download_at: null,
        limit_notified_at: null,
        receipt_sent_at: null,
      });
    }
    await emit(trx, s, { type: "package.created", pkg: row });
  });
  return { ...toPackageView({ ...row, file_count: 0, total_size: 0, download_count: 0 }, s.clock()), files: [], links: [] };
}

/**
 * The package if it exists and the caller may do `action` on it (policies/packages.ts: the seed's
 * rule, another user's package is 403); an unknown id is 404.
 */
export async function ownedPackage(s: Services, user: Principal, id: string, action: OnPackage): Promise<PackageWithCounts> {
  const p = await findPackage(s.db, id);
  if (!p) throw new NotFound("package_not_found", "Package not found");
  authorize(user, action, p);
  return p;
}

/**
 * Locks the caller's package for the transaction `trx` (see lockForUpdate): every status check
 * that leads to a change happens under this lock, so a finalize, an upload and a file deletion
 * of one package never interleave.
 */
export async function lockOwnedPackage(trx: Services["db"], user: Principal, id: string, action: OnPackage | LinkAction): Promise<PackageRow> {
  const p = await lockPackage(trx, id);
  if (!p) throw new NotFound("package_not_found", "Package not found");
  authorize(user, action, p);
  return p;
}

/** `GET /packages/{id}`. */
export async function getPackage(s: Services, user: Principal, id: string): Promise<PackageDetail> {
  return packageDetail(s, await ownedPackage(s, user, id, "package.read"));
}

/** A package's recipient as the pages write them. */
export interface Recipient {
  email: string;
  name: string | null;
}

/**
 * Every recipient of these packages of the caller (a draft's too, whose links hold no secret
 * yet), by package id, in the order given. Packages that are not the caller's have none here.
 */
export async function packageRecipients(s: Services, user: Principal, packages: { id: string }[]): Promise<Map<string, Recipient[]>> {
  const out = new Map<string, Recipient[]>();
  for (const r of await listRecipientsOf(s.db, user.userId, packages.map((p) => p.id))) {
    const list = out.get(r.package_id) ?? [];
    list.push({ email: r.recipient_email, name: r.recipient_name });
    out.set(r.package_id, list);
  }
  return out;
}

export interface ListPackagesOptions {
  page?: number | undefined;
  perPage: number;
  cursor?: string | undefined;
  status?: PackageStatus | undefined;
  direction?: Direction | undefined;
  q?: string | undefined;
  idPrefix?: string | undefined;
}

/**
 * `GET /packages`: by page, or by cursor. A cursor is the last package a page returned (its
 * created_at and id, base64url JSON): the next page starts strictly after it in the list's order,
 * so a walk never skips or repeats a package when others are created or deleted meanwhile.
 */
export async function listPackages(s: Services, user: Principal, opts: ListPackagesOptions): Promise<Schemas["PackageList"]> {
  const now = s.clock();
  const q = opts.q === undefined ? undefined : cleanText(opts.q, "/query/q");
  if (opts.cursor !== undefined && opts.page !== undefined) throw new ValidationFailed("Give either page or cursor, not both", "/query/cursor");
  const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor);
  const page = opts.page ?? 1;
  // One row more than asked says whether there is a next page.
  const { rows, total } = await listPackageRows(
    s.db,
    { ownerId: packageListScope(user).ownerId, status: opts.status, direction: opts.direction, q: q || undefined, idPrefix: opts.idPrefix?.toLowerCase(), now: now.toISOString() },
    { limit: opts.perPage + 1, offset: (page - 1) * opts.perPage, after },
  );
  const items = rows.slice(0, opts.perPage);
  const last = items.at(-1);
  const next_cursor = rows.length > opts.perPage && last ? encodeCursor({ created_at: last.created_at, id: last.id }) : null;
  return { items: items.map((r) => toPackageView(r, now)), total, page, per_page: opts.perPage, next_cursor };
}

function encodeCursor(c: PackageCursor): string {
  return Buffer.from(JSON.stringify([c.created_at, c.id])).toString("base64url");
}

function decodeCursor(raw: string): PackageCursor {
  try {
    const v: unknown = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && typeof v[1] === "string" && !Number.isNaN(Date.parse(v[0])) && /^[0-9a-f-]{36}$/.test(v[1])) {
      return { created_at: v[0], id: v[1] };
    }
  } catch {
    // falls through to the 422
  }
  throw new ValidationFailed("cursor is not one this server gave out (use next_cursor from a page)", "/query/cursor");
}

/**
 * `POST /packages/{id}/finalize`: draft → active. Mints each recipient's link (only its hash is
 * stored) and sets the expiry under the package's lock, and queues every recipient's email
 * with their own link in the same transaction: the mail worker sends it, with retries, so an SMTP
 * server that is down or slow neither loses the email nor holds this answer.
 */
export async function finalizePackage(s: Services, user: Principal, id: string): Promise<Schemas["FinalizedPackage"]> {
  const now = s.clock();
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
    await activatePackage(trx, id, {
      finalized_at: now.toISOString(),
      expires_at: addDays(now, locked.ttl_days).toISOString(),
    });
    const out = await mintLinks(trx, id, (l) => l.revoked_at === null, undefined, now);
    await emit(trx, s, { type: "package.finalized", pkg: locked, links: out });
    return out;
  });
  return linksAnswer(s, id, minted);
}

/** New secrets for the package's links that `which` selects; the old hashes die with `reason` (if any). */
async function mintLinks(
  trx: Services["db"],
  id: string,
  which: (l: LinkRow) => boolean,
  reason: "replaced" | undefined,
  now: Date,
): Promise<MintedLink[]> {
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
 * previous URL answers 410 `link_replaced`.
 */
export async function resendPackage(s: Services, user: Principal, id: string): Promise<Schemas["FinalizedPackage"]> {
  const now = s.clock();
  const minted = await s.db.transaction(async (trx) => {
    const locked = await lockOwnedPackage(trx, user, id, "package.share");
    const status = effectiveStatus(locked, now);
    if (status !== "active") throw new Conflict("package_not_active", `Package is ${status}; only an active package's links can be sent again`);
    if ((await listLinks(trx, id)).every((l) => l.revoked_at !== null)) {
      throw new Conflict("package_not_active", "Every recipient's link is revoked; there is no link to send again");
    }
    const out = await mintLinks(trx, id, (l) => l.revoked_at === null, "replaced", now);
    await emit(trx, s, { type: "package.links_resent", pkg: locked, links: out });
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
    const lastLink = (await listLinks(trx, id)).every((l) => l.id === linkId || l.revoked_at !== null);
    if (lastLink && effectiveStatus(locked, now) === "active" && (await revokePackageRow(trx, id, now.toISOString()))) {
      await emit(trx, s, { type: "package.revoked", pkg: locked });
    }
  });
  const p = await ownedPackage(s, user, id, "package.read");
  const fresh = (await findLink(s.db, id, linkId))!;
  const usedUp = p.max_downloads !== null && p.file_count > 0 && ((await usedUpFileCounts(s.db, id, p.max_downloads)).get(linkId) ?? 0) >= p.file_count;
  return toLinkView(fresh, p, s.clock(), usedUp, (await latestLinkMail(s.db, id)).get(linkId));
}

/**
 * `PATCH /packages/{id}`: a new expiry (reviving an expired package whose files are still
 * stored) or download limit. The new expiry is at most SF_MAX_TTL_DAYS from now.
 */
export async function updatePackage(s: Services, user: Principal, id: string, input: Schemas["PackageUpdateRequest"]): Promise<PackageDetail> {
  if (input.expires_at !== undefined && input.ttl_days !== undefined) {
    throw new ValidationFailed("Give either expires_at or ttl_days, not both", "/body/expires_at");
  }
  const now = s.clock();
  const latest = addDays(now, s.config.maxTtlDays);
  await s.db.transaction(async (trx) => {
    const p = await lockOwnedPackage(trx, user, id, "package.update");
    const status = effectiveStatus(p, now);
    if (status === "revoked") throw new Conflict("package_not_active", "Package is revoked; its links cannot be changed");
    const change: Parameters<typeof updatePackageRow>[2] = {};
    if (input.max_downloads !== undefined) {
      if (p.direction !== "outbound") throw new ValidationFailed("max_downloads applies to outbound packages only", "/body/max_downloads");
      change.max_downloads = input.max_downloads;
    }
    if (status === "draft") {
      if (input.expires_at !== undefined) throw new ValidationFailed("A draft's expiry is set when it is finalized; give ttl_days", "/body/expires_at");
      if (input.ttl_days !== undefined) {
        if (input.ttl_days > s.config.maxTtlDays) throw new ValidationFailed(`ttl_days must be at most ${s.config.maxTtlDays} on this server`, "/body/ttl_days");
        change.ttl_days = input.ttl_days;
      }
    } else if (input.expires_at !== undefined || input.ttl_days !== undefined) {
      const expires = input.ttl_days !== undefined ? addDays(now, input.ttl_days) : new Date(input.expires_at!);
      const path = input.ttl_days !== undefined ? "/body/ttl_days" : "/body/expires_at";
      if (Number.isNaN(expires.getTime()) || expires <= now) throw new ValidationFailed("The new expiry must be in the future", path);
      if (expires > latest) throw new ValidationFailed(`The new expiry must be at most ${s.config.maxTtlDays} days from now on this server`, path);
      if (p.purged_at !== null) throw new Gone("package_purged", "This package's files were already deleted; it cannot be extended");
      change.expires_at = expires.toISOString();
      if (input.ttl_days !== undefined) change.ttl_days = input.ttl_days;
      change.status = "active";
    }
    await updatePackageRow(trx, id, change);
    if (input.max_downloads !== undefined) await resetLimitNotices(trx, id);
  });
  return packageDetail(s, (await findPackage(s.db, id))!);
}

/** `POST /packages/{id}/revoke`: active → revoked. */
export async function revokePackage(s: Services, user: Principal, id: string): Promise<PackageDetail> {
  const p = await ownedPackage(s, user, id, "package.share");
  const now = s.clock();
  const status = effectiveStatus(p, now);
  if (status !== "active") throw new Conflict("package_not_active", `Package is ${status}; only an active package can be revoked`);
  await s.db.transaction(async (trx) => {
    if (!(await revokePackageRow(trx, id, now.toISOString()))) throw new Conflict("package_not_active", "Package changed meanwhile; it is no longer active");
    await emit(trx, s, { type: "package.revoked", pkg: p });
  });
  return packageDetail(s, (await findPackage(s.db, id))!);
}

/**
 * `DELETE /packages/{id}`: the rows, then the stored bytes (their deletion queued in the same
 * transaction, retried by the sweeper until the store confirms). Its link answers 410 from then on.
 */
export async function deletePackage(s: Services, user: Principal, id: string): Promise<void> {
  let uploadIds: string[] = [];
  const keys = await s.db.transaction(async (trx) => {
    const p = await lockOwnedPackage(trx, user, id, "package.delete");
    uploadIds = await openUploadIdsOf(trx, id);
    // Reported as it was just before it went.
    await emit(trx, s, { type: "package.deleted", pkg: p });
    for (const l of await listLinks(trx, id)) await insertDeadLink(trx, l.link_hash, nowIso(s.clock));
    const storageKeys = await storageKeysOf(trx, id);
    // The bytes' deletion is recorded with the rows': it happens even if the store is down now.
    await queueBlobDeletions(trx, storageKeys, nowIso(s.clock));
    await deleteFilesOf(trx, id);
    await deletePackageRow(trx, id);
    return storageKeys;
  });
  await deleteQueuedBlobs(s, keys);
  // The rows went with the package (ON DELETE CASCADE); their bytes go now.
  for (const uploadId of uploadIds) {
    await s.uploads.remove(uploadId).catch((err: unknown) => s.logger.error({ err, uploadId }, "could not remove an upload's bytes"));
  }
}

/** `GET /packages/{id}/events`. */
export async function listPackageEvents(s: Services, user: Principal, id: string): Promise<Schemas["PackageEvent"][]> {
  await ownedPackage(s, user, id, "package.read");
  return (await listEvents(s.db, id)).map((e) => ({
    id: e.id,
    type: e.type,
    file_id: e.file_id,
    file_name: e.file_name,
    client_address: e.client_address,
    user_agent: e.user_agent,
    created_at: e.created_at,
    link_id: e.link_id,
    recipient_email: e.recipient_email,
  }));
}

