import crypto from "node:crypto";
import type { Knex } from "knex";
import type { components } from "@speedyfiles/api-types";
import { Conflict, Forbidden, Gone, NotFound } from "../errors.js";
import { findPackageByLinkHash, lockPackage, markCompleted, type LinkedPackage, type PackageRow } from "../db/packages.js";
import { findFile, listFiles, packageUsage, pagesOfFiles } from "../db/files.js";
import { insertEvent, type EventType } from "../db/events.js";
import { isDeadLink } from "../db/dead-links.js";
import { findUserById } from "../db/users.js";
import { ownerUploadNotice } from "../mail/templates.js";
import { sha256Hex } from "../security/secrets.js";
import { effectiveStatus, mailErrorSummary, toFileView, type FileView } from "./packages.js";
import { addFile, uploadLimits, usageWithOpenUploads, type UploadTarget } from "./files.js";
import { archiveName } from "./file-names.js";
import type { ArchiveDownload, ByteRange, FileDownload } from "./downloads.js";
import { nowIso, type Client, type Services } from "./context.js";
import { emitPackageEvent } from "./package-events.js";

type Schemas = components["schemas"];
export type LinkView = Schemas["LinkView"];

/** The shape of a magic-link secret: base64url of 32 bytes. */
export function isLinkSecret(secret: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(secret);
}

/**
 * The package behind a live link. Unknown → 404; expired, revoked, purged, deleted, or its
 * owner's account disabled → 410. The expiry is checked against the clock on every request, so
 * no byte leaves after `expires_at` even when the sweeper has not run yet.
 */
export async function liveLink(s: Services, secret: string): Promise<LinkedPackage> {
  const hash = isLinkSecret(secret) ? sha256Hex(secret) : undefined;
  const p = hash ? await findPackageByLinkHash(s.db, hash) : undefined;
  if (!p) {
    if (hash && (await isDeadLink(s.db, hash))) throw new Gone("link_deleted", "The sender deleted these files");
    throw new NotFound("link_not_found", "This link does not exist");
  }
  const status = effectiveStatus(p, s.clock());
  if (status === "expired" || p.purged_at !== null) throw new Gone("link_expired", "This link has expired");
  if (status === "revoked") throw new Gone("link_revoked", "This link was revoked by its sender");
  if (status !== "active") throw new Gone("link_unavailable", "This link is not active");
  // A disabled account shares nothing; re-enabling it brings its links back.
  if (p.owner_disabled) throw new Gone("link_unavailable", "This link is not available");
  return p;
}

async function linkView(s: Services, p: LinkedPackage): Promise<LinkView> {
  const owner = await findUserById(s.db, p.owner_id);
  return {
    title: p.title,
    message: p.message,
    direction: p.direction,
    sender_name: owner?.name ?? "",
    sender_email: owner?.email ?? "",
    recipient_name: p.recipient_name,
    expires_at: p.expires_at!,
    completed_at: p.completed_at,
    file_count: p.file_count,
    total_size: p.total_size,
    files: (await listFiles(s.db, p.id)).map(toFileView),
  };
}

/** `GET /links/{link}`: what the link gives access to (also the recipient's HTML page). */
export async function getLink(s: Services, secret: string): Promise<LinkView> {
  return linkView(s, await liveLink(s, secret));
}

/** A line of the owner's audit trail (`GET /packages/{id}/events`). */
async function recordEvent(db: Knex, s: Services, packageId: string, type: EventType, client: Client, file?: { id: string; name: string }): Promise<void> {
  await insertEvent(db, {
    id: crypto.randomUUID(),
    package_id: packageId,
    type,
    file_id: file?.id ?? null,
    file_name: file?.name ?? null,
    client_address: client.address?.slice(0, 64) ?? null,
    user_agent: client.userAgent?.slice(0, 300) ?? null,
    created_at: nowIso(s.clock),
  });
}

function checkOutbound(p: LinkedPackage): void {
  if (p.direction !== "outbound") throw new Forbidden("link_download_forbidden", "Files sent through an upload link cannot be downloaded with it");
}

/**
 * What counts as a download of a file through a link: an answer that was sent to its end and
 * carried the file's last byte. A page view, the JSON view, a HEAD, a 304 or a download the
 * client stopped never counts; a download resumed to the end counts once, when it ends.
 */
export function countsAsDownload(range: ByteRange | undefined, size: number): boolean {
  return range === undefined || range.end === size - 1;
}

/** `GET /links/{link}/files/{file_id}`. */
export async function downloadLinkFile(s: Services, secret: string, fileId: string, client: Client): Promise<FileDownload> {
  const p = await liveLink(s, secret);
  checkOutbound(p);
  const f = await findFile(s.db, p.id, fileId);
  if (!f) throw new NotFound("file_not_found", "File not found");
  return {
    kind: "file",
    file: f,
    cacheControl: "no-store",
    onSent: async (range) => {
      if (!countsAsDownload(range, f.size)) return;
      await s.db.transaction(async (trx) => {
        await recordEvent(trx, s, p.id, "file_download", client, { id: f.id, name: f.name });
        await emitPackageEvent(trx, s, "package.downloaded", p, toFileView(f));
      });
    },
  };
}

/** Up to this many files, a zip's length is computed before it is sent (all rows are read first). */
const ARCHIVE_SIZED_UP_TO = 1000;

/**
 * `GET /links/{link}/archive`: every file as one zip; counts once the whole zip was sent. Up to
 * 1,000 files the answer has a Content-Length (a progress bar for the recipient); above, the zip
 * starts at once and the files' rows are read a page at a time while it streams.
 */
export async function downloadLinkArchive(s: Services, secret: string, client: Client): Promise<ArchiveDownload> {
  const p = await liveLink(s, secret);
  checkOutbound(p);
  return {
    kind: "archive",
    name: archiveName(p.title),
    files: p.file_count <= ARCHIVE_SIZED_UP_TO ? await listFiles(s.db, p.id) : pagesOfFiles(s.db, p.id, 500),
    onSent: () =>
      s.db.transaction(async (trx) => {
        await recordEvent(trx, s, p.id, "archive_download", client);
        await emitPackageEvent(trx, s, "package.downloaded", p);
      }),
  };
}

export const acceptsRecipientFiles = (clock: () => Date) => (p: { status: string; direction: string; expires_at: string | null }) =>
  p.status === "active" && p.direction === "inbound" && p.expires_at !== null && p.expires_at > clock().toISOString();

/** `POST /links/{link}/files`: the recipient of an inbound link adds a file. */
export async function uploadLinkFile(s: Services, secret: string, client: Client): Promise<UploadTarget> {
  const p = await liveLink(s, secret);
  if (p.direction !== "inbound") throw new Conflict("link_not_inbound", "This link is for downloading; it does not take uploads");
  return {
    ...uploadLimits(s, await usageWithOpenUploads(s, p)),
    commit: (received) =>
      addFile(s, p.id, received, acceptsRecipientFiles(s.clock), (trx, pkg, file) => recordUploadThroughLink(trx, s, pkg, file, client)),
  };
}

/** What a file arriving through an inbound link leaves behind, in its transaction: audit and the `package.uploaded` webhook. */
export async function recordUploadThroughLink(trx: Knex, s: Services, pkg: PackageRow, file: FileView, client: Client): Promise<void> {
  await recordEvent(trx, s, pkg.id, "upload", client, { id: file.id, name: file.name });
  await emitPackageEvent(trx, s, "package.uploaded", pkg, file);
}

/**
 * `POST /links/{link}/complete`: the recipient says they are done. The owner is emailed the list
 * of files only when some arrived since the last completion, so pressing "done" again (or a
 * script calling it in a loop) sends nothing more.
 */
export async function completeLink(s: Services, secret: string, client: Client): Promise<Schemas["LinkCompletion"]> {
  const p = await liveLink(s, secret);
  if (p.direction !== "inbound") throw new Conflict("link_not_inbound", "Only an upload link can be completed");
  const now = nowIso(s.clock);
  const newFiles = await s.db.transaction(async (trx) => {
    const locked = await lockPackage(trx, p.id);
    const { count } = await packageUsage(trx, p.id);
    const fresh = count - (locked?.completed_file_count ?? 0);
    if (fresh > 0) {
      await markCompleted(trx, p.id, now, count);
      await recordEvent(trx, s, p.id, "complete", client);
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
  return { ...(await linkView(s, { ...p, completed_at: newFiles > 0 ? now : p.completed_at })), new_files: newFiles, email_sent, email_error };
}
