import crypto from "node:crypto";
import type { Knex } from "knex";
import type { components } from "../generated/api.js";
import { Conflict, Forbidden, Gone, NotFound } from "../errors.js";
import { lockPackage, markCompleted, type LinkedPackage, type PackageRow } from "../db/packages.js";
import { findFile, listFiles, packageUsage, pagesOfFiles, type FileRow } from "../db/files.js";
import { insertEvent, type EventType } from "../db/events.js";
import { notifyPackageEvent } from "./event-waiters.js";
import { deadLinkReason } from "../db/dead-links.js";
import {
  claimLimitNotice,
  claimReceipt,
  countFileDownloads,
  countLinkDownload,
  countPackageFileDownloads,
  deleteHolds,
  deleteStaleHolds,
  fileDownloadCounts,
  findLinkByHash,
  insertHolds,
  liveHolds,
  lockLink,
  type LinkRow,
} from "../db/links.js";
import { findUserById } from "../db/users.js";
import { downloadReceipt, downloadsUsedUpNotice, ownerUploadNotice } from "../mail/templates.js";
import { secretsEqual, sha256Hex } from "../security/secrets.js";
import { verifyPassword } from "../security/passwords.js";
import { effectiveStatus, mailErrorSummary, toFileView, type FileView } from "./packages.js";
import { addFile, uploadLimits, usageWithOpenUploads, type UploadTarget } from "./files.js";
import { archiveName } from "./file-names.js";
import type { ArchiveDownload, ByteRange, FileDownload } from "./downloads.js";
import { nowIso, type Client, type Services } from "./context.js";
import { emitPackageEvent } from "./package-events.js";
import { authorizeRecipient } from "../policies/index.js";

type Schemas = components["schemas"];
export type LinkView = Schemas["LinkView"];

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
  return crypto.createHmac("sha256", l.pkg.password_hash ?? "").update(`speedyfiles link v1.${l.link.id}.${until}`).digest("base64url");
}

function cookieValid(l: LiveLink, value: string, now: Date): boolean {
  const m = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!m) return false;
  const until = Number(m[1]);
  return until > now.getTime() / 1000 && secretsEqual(m[2]!, cookieMac(l, until));
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
  const key = verifiedKey(hash, access.password);
  const until = verified.get(key);
  if (until !== undefined && until > Date.now()) return;
  if (!(await verifyPassword(access.password, hash))) throw new Forbidden("link_password_wrong", "The password is wrong");
  if (verified.size >= 10_000) verified.clear();
  verified.set(key, Date.now() + VERIFIED_MS);
}

/**
 * Passwords recently found right, so a recipient fetching a thousand files with X-Link-Password
 * pays for one scrypt (32 MiB, ~60 ms), not a thousand. In this process's memory only, as an
 * HMAC under a random key of this process (never the password), tied to the stored hash (a
 * changed password no longer matches); a wrong password is always checked in full.
 */
const verified = new Map<string, number>();
const VERIFIED_MS = 5 * 60_000;
const VERIFIED_KEY = crypto.randomBytes(32);
function verifiedKey(hash: string, password: string): string {
  return crypto.createHmac("sha256", VERIFIED_KEY).update(hash).update("\0").update(password.normalize("NFKC")).digest("base64url");
}

/** A live, unlocked link (the checks of every recipient operation that reads files). */
export async function openLink(s: Services, secret: string, access: LinkAccess): Promise<LiveLink> {
  const l = await liveLink(s, secret);
  await unlockLink(s, l, access);
  return l;
}

/** Files of this link that reached max_downloads (empty without a limit). */
async function usedUpFiles(s: Services, l: LiveLink): Promise<Set<string>> {
  const max = l.pkg.max_downloads;
  if (max === null) return new Set();
  const counts = await fileDownloadCounts(s.db, l.link.id);
  return new Set([...counts].filter(([, n]) => n >= max).map(([id]) => id));
}

const limitReached = () => new Gone("download_limit_reached", "Every file was downloaded as many times as the sender allowed through this link");

async function linkView(s: Services, l: LiveLink, usedUp: Set<string>): Promise<LinkView> {
  const p = l.pkg;
  const owner = await findUserById(s.db, p.owner_id);
  return {
    title: p.title,
    message: p.message,
    direction: p.direction,
    sender_name: owner?.name ?? "",
    sender_email: owner?.email ?? "",
    recipient_name: l.link.recipient_name,
    expires_at: p.expires_at!,
    completed_at: p.completed_at,
    file_count: p.file_count,
    total_size: p.total_size,
    files: (await listFiles(s.db, p.id)).map(toFileView),
    max_downloads: p.max_downloads,
    used_up_file_ids: [...usedUp],
  };
}

/**
 * `GET /links/{link}`: what the link gives access to (also the recipient's HTML page). Never
 * counts as a download: mail scanners that open links use nothing up.
 */
export async function getLink(s: Services, secret: string, access: LinkAccess = {}): Promise<LinkView> {
  const l = await openLink(s, secret, access);
  return viewOf(s, l);
}

/** The view of an opened link; 410 `download_limit_reached` when every file is used up. */
export async function viewOf(s: Services, l: LiveLink): Promise<LinkView> {
  const usedUp = await usedUpFiles(s, l);
  if (l.pkg.file_count > 0 && usedUp.size >= l.pkg.file_count) throw limitReached();
  return linkView(s, l, usedUp);
}

/** A line of the owner's audit trail (`GET /packages/{id}/events`). */
async function recordEvent(db: Knex, s: Services, l: LiveLink, type: EventType, client: Client, file?: { id: string; name: string }): Promise<void> {
  await insertEvent(db, {
    id: crypto.randomUUID(),
    package_id: l.pkg.id,
    type,
    file_id: file?.id ?? null,
    file_name: file?.name ?? null,
    client_address: client.address?.slice(0, 64) ?? null,
    user_agent: client.userAgent?.slice(0, 300) ?? null,
    created_at: nowIso(s.clock),
    link_id: l.link.id,
  });
  // Waiters of this process learn of it once it is visible to their query: after the commit.
  const committed = db.isTransaction ? (db as Knex.Transaction).executionPromise : Promise.resolve();
  committed.then(
    () => notifyPackageEvent(l.pkg.id),
    () => undefined,
  );
}

/**
 * What counts as a download of a file through a link: an answer that was sent to its end and
 * carried the file's last byte. A page view, the JSON view, a HEAD, a 304 or a download the
 * client stopped never counts; a download resumed to the end counts once, when it ends.
 */
export function countsAsDownload(range: ByteRange | undefined, size: number): boolean {
  return range === undefined || range.end === size - 1;
}

/**
 * With max_downloads, a download that would count takes a hold on one of each of its files'
 * remaining downloads before its first byte, under the link's row lock: two downloads racing for
 * the last one cannot both start (the second answers 409 `download_in_progress`, or 410 once the
 * first was counted). The hold becomes a count when the last byte was sent and is dropped when the
 * download stops short; one left by a process that died mid-transfer lapses at `until` (an hour
 * plus the time the bytes take at 1 MB/s).
 */
async function takeHolds(s: Services, l: LiveLink, files: { id: string; size: number }[]): Promise<string[]> {
  const max = l.pkg.max_downloads;
  if (max === null) return [];
  const now = s.clock();
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const until = new Date(now.getTime() + 3_600_000 + Math.ceil(bytes / 1000)).toISOString();
  return s.db.transaction(async (trx) => {
    await lockLink(trx, l.link.id);
    await deleteStaleHolds(trx, l.link.id, now.toISOString());
    const counts = await fileDownloadCounts(trx, l.link.id);
    const holds = await liveHolds(trx, l.link.id, now.toISOString());
    for (const f of files) {
      const done = counts.get(f.id) ?? 0;
      if (done >= max) throw limitReached();
      if (done + (holds.get(f.id) ?? 0) >= max) {
        throw new Conflict("download_in_progress", "This file's last allowed download through this link is under way; try again if it does not finish");
      }
    }
    const rows = files.map((f) => ({ id: crypto.randomUUID(), link_id: l.link.id, file_id: f.id, until }));
    await insertHolds(trx, rows);
    return rows.map((r) => r.id);
  });
}

/**
 * A complete download through a link: its count (per link, per file, per package), its audit
 * line and webhook event, in one transaction; then the sender's receipts (the recipient's first
 * complete download; every file of the link used up), when the package asks for them.
 */
async function recordDownload(s: Services, l: LiveLink, client: Client, file: FileRow | undefined, holdIds: string[]): Promise<void> {
  const now = nowIso(s.clock);
  const p = l.pkg;
  // Two short transactions, each touching one row every download of this package (or link)
  // updates, so concurrent downloads queue only briefly: first the audit trail as before (the
  // event, the package's count, the webhook), visible as soon as the transfer ends; then this
  // link's counts, which also turn its holds into counts (a hold keeps the download reserved
  // until then, so the limit is never overrun in between). A crash between the two loses one
  // link count, never a limit: the hold lapses at its `until`.
  await s.db.transaction(async (trx) => {
    await recordEvent(trx, s, l, file ? "file_download" : "archive_download", client, file ? { id: file.id, name: file.name } : undefined);
    await emitPackageEvent(trx, s, "package.downloaded", p, file ? toFileView(file) : undefined, { id: l.link.id, recipient_email: l.link.recipient_email });
  });
  const usedUp = await s.db.transaction(async (trx) => {
    if (file) await countFileDownloads(trx, l.link.id, [file.id]);
    else await countPackageFileDownloads(trx, l.link.id, p.id);
    await deleteHolds(trx, holdIds);
    await countLinkDownload(trx, l.link.id, now);
    if (p.max_downloads === null || !p.notify_on_download) return false;
    const counts = await fileDownloadCounts(trx, l.link.id);
    const done = [...counts.values()].filter((n) => n >= p.max_downloads!).length;
    return done >= p.file_count && (await claimLimitNotice(trx, l.link.id, now));
  });
  // The receipt of this recipient's first complete download: claimed once, after the commit.
  const first = p.notify_on_download && (await claimReceipt(s.db, l.link.id, now));
  if (!p.notify_on_download || (!first && !usedUp)) return;
  const owner = await findUserById(s.db, p.owner_id);
  if (!owner) return;
  const packageUrl = `${s.config.publicUrl}/packages/${p.id}`;
  const who = { ownerEmail: owner.email, ownerName: owner.name, recipientEmail: l.link.recipient_email, recipientName: l.link.recipient_name, title: p.title, packageUrl };
  const notices = [
    ...(first ? [downloadReceipt({ ...who, what: file ? `"${file.name}"` : "all files (zip)", at: now })] : []),
    ...(usedUp ? [downloadsUsedUpNotice({ ...who, maxDownloads: p.max_downloads!, packageId: p.id })] : []),
  ];
  for (const m of notices) {
    try {
      await s.mailer.send(m);
    } catch (err) {
      s.logger.warn({ packageId: p.id, linkId: l.link.id, reason: mailErrorSummary(err) }, "could not send a download receipt");
    }
  }
}

/** Releases holds of a download that stopped short; a failure is logged (the hold lapses anyway). */
async function releaseHolds(s: Services, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  try {
    await deleteHolds(s.db, ids);
  } catch (err) {
    s.logger.warn({ err }, "could not release a download hold");
  }
}

/** `GET /links/{link}/files/{file_id}`. */
export async function downloadLinkFile(s: Services, secret: string, fileId: string, client: Client, access: LinkAccess = {}): Promise<FileDownload> {
  const l = await openLink(s, secret, access);
  authorizeRecipient("download", l.pkg);
  const f = await findFile(s.db, l.pkg.id, fileId);
  if (!f) throw new NotFound("file_not_found", "File not found");
  if ((await usedUpFiles(s, l)).has(f.id)) throw new Gone("download_limit_reached", "This file was downloaded as many times as the sender allowed through this link");
  let holds: string[] = [];
  return {
    kind: "file",
    file: f,
    cacheControl: "no-store",
    begin: async (range) => {
      if (countsAsDownload(range, f.size)) holds = await takeHolds(s, l, [f]);
    },
    onSent: async (range) => {
      if (!countsAsDownload(range, f.size)) return releaseHolds(s, holds);
      await recordDownload(s, l, client, f, holds);
    },
    onUnsent: () => releaseHolds(s, holds),
  };
}

/** Up to this many files, a zip's length is computed before it is sent (all rows are read first). */
const ARCHIVE_SIZED_UP_TO = 1000;

/**
 * `GET /links/{link}/archive`: every file as one zip; counts once the whole zip was sent (as one
 * complete download of every file in it). Up to 1,000 files the answer has a Content-Length (a
 * progress bar for the recipient); above, the zip starts at once and the files' rows are read a
 * page at a time while it streams (with max_downloads every row is read first: each file is held).
 */
export async function downloadLinkArchive(s: Services, secret: string, client: Client, access: LinkAccess = {}): Promise<ArchiveDownload> {
  const l = await openLink(s, secret, access);
  const p = l.pkg;
  authorizeRecipient("download", p);
  if ((await usedUpFiles(s, l)).size > 0) {
    throw new Gone("download_limit_reached", "Some of these files were downloaded as many times as the sender allowed; download the others one by one");
  }
  const all = p.file_count <= ARCHIVE_SIZED_UP_TO || p.max_downloads !== null ? await listFiles(s.db, p.id) : undefined;
  let holds: string[] = [];
  return {
    kind: "archive",
    name: archiveName(p.title),
    files: all ?? pagesOfFiles(s.db, p.id, 500),
    begin: async () => {
      if (all) holds = await takeHolds(s, l, all);
    },
    // Without a limit, per-file counts are still kept (a limit set later starts from them).
    onSent: () => recordDownload(s, l, client, undefined, holds),
    onUnsent: () => releaseHolds(s, holds),
  };
}

export const acceptsRecipientFiles = (clock: () => Date) => (p: { status: string; direction: string; expires_at: string | null }) =>
  p.status === "active" && p.direction === "inbound" && p.expires_at !== null && p.expires_at > clock().toISOString();

/** `POST /links/{link}/files`: the recipient of an inbound link adds a file. */
export async function uploadLinkFile(s: Services, secret: string, client: Client): Promise<UploadTarget> {
  const l = await liveLink(s, secret);
  const p = l.pkg;
  if (p.direction !== "inbound") throw new Conflict("link_not_inbound", "This link is for downloading; it does not take uploads");
  return {
    ...uploadLimits(s, await usageWithOpenUploads(s, p)),
    commit: (received) =>
      addFile(s, p.id, received, acceptsRecipientFiles(s.clock), (trx, pkg, file) => recordUploadThroughLink(trx, s, l, pkg, file, client)),
  };
}

/** What a file arriving through an inbound link leaves behind, in its transaction: audit and the `package.uploaded` webhook. */
export async function recordUploadThroughLink(trx: Knex, s: Services, l: LiveLink, pkg: PackageRow, file: FileView, client: Client): Promise<void> {
  await recordEvent(trx, s, l, "upload", client, { id: file.id, name: file.name });
  await emitPackageEvent(trx, s, "package.uploaded", pkg, file);
}

/**
 * `POST /links/{link}/complete`: the recipient says they are done. The owner is emailed the list
 * of files only when some arrived since the last completion, so pressing "done" again (or a
 * script calling it in a loop) sends nothing more.
 */
export async function completeLink(s: Services, secret: string, client: Client): Promise<Schemas["LinkCompletion"]> {
  const l = await liveLink(s, secret);
  const p = l.pkg;
  if (p.direction !== "inbound") throw new Conflict("link_not_inbound", "Only an upload link can be completed");
  const now = nowIso(s.clock);
  const newFiles = await s.db.transaction(async (trx) => {
    const locked = await lockPackage(trx, p.id);
    const { count } = await packageUsage(trx, p.id);
    const fresh = count - (locked?.completed_file_count ?? 0);
    if (fresh > 0) {
      await markCompleted(trx, p.id, now, count);
      await recordEvent(trx, s, l, "complete", client);
      await emitPackageEvent(trx, s, "package.completed", p);
    }
    return fresh;
  });
  let email_sent = false;
  let email_error: string | null = null;
  if (newFiles > 0) {
    const owner = await findUserById(s.db, p.owner_id);
    if (owner) {
      try {
        await s.mailer.send(
          ownerUploadNotice({
            ownerEmail: owner.email,
            ownerName: owner.name,
            uploaderEmail: p.recipient_email,
            uploaderName: p.recipient_name,
            title: p.title,
            files: await listFiles(s.db, p.id),
            packageUrl: `${s.config.publicUrl}/api/v1/packages/${p.id}`,
          }),
        );
        email_sent = true;
      } catch (err) {
        email_error = mailErrorSummary(err);
        s.logger.warn({ packageId: p.id, reason: email_error }, "could not notify the owner of an upload");
      }
    }
  }
  const view = await linkView(s, { ...l, pkg: { ...p, completed_at: newFiles > 0 ? now : p.completed_at } }, new Set());
  return { ...view, new_files: newFiles, email_sent, email_error };
}
