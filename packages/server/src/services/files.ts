import crypto from "node:crypto";
import type { Knex } from "knex";
import { Conflict, Gone, NotFound, PayloadTooLarge, type ApiError } from "../errors.js";
import { isUniqueViolation } from "../db/knex.js";
import { deleteFileRow, findFile, findNameClash, insertFile, type FileRow } from "../db/files.js";
import { nameKey } from "../util/name-key.js";
import { lockPackage, type PackageRow } from "../db/packages.js";
import { openUploadUsage } from "../db/uploads.js";
import { effectiveStatus, lockOwnedPackage, ownedPackage, toFileView, type FileView } from "./packages.js";
import { deleteQueuedBlobs, removeBlobs } from "./blob-deletions.js";
import { queueBlobDeletions } from "../db/blob-deletions.js";
import type { FileDownload } from "./downloads.js";
import { nowIso, type Principal, type Services } from "./context.js";
import { deleteQuotaReservation } from "../db/quota.js";
import { rulesForRole } from "./policy.js";
import { holdUploadRoom, withPolicyFileLimit, type AnnouncedSize, type UploadRoom } from "./quota.js";

/** A file whose bytes are stored and hashed, not yet recorded in a package. */
export interface ReceivedFile {
  name: string;
  contentType: string;
  key: string;
  size: number;
  sha256: string;
  /** Its sealed manifest entry (a file of an encrypted package); null otherwise. */
  sealed: string | null;
}

/**
 * Where an upload goes, decided before a byte of it is read: the room it may fill, and how to
 * record it once stored. The one upload path (`receiveUpload`) asks for the room with the size the
 * request announces (`prepare`: refused at once when it cannot fit, the owner's quota held
 * meanwhile), streams the body within it and calls `commit`, then gives the room back. Owner and
 * inbound-link uploads differ only in their target.
 */
export interface UploadTarget {
  /** The package is encrypted end to end: the file needs its `sealed` entry (and others refuse one). */
  encrypted: boolean;
  prepare(announced: AnnouncedSize): Promise<UploadRoom>;
  commit(received: ReceivedFile, room: UploadRoom): Promise<FileView>;
}

/** The server's limits for one more file (uploadLimits), as a refusal to throw. */
function serverFileLimit(s: Services, usage: { count: number; bytes: number }): { maxBytes: number; tooLarge(): ApiError } {
  const l = uploadLimits(s, usage);
  return { maxBytes: l.maxBytes, tooLarge: () => new PayloadTooLarge(l.tooLargeDetail) };
}

/**
 * The target of a multipart upload into package `p` of `owner`: the server's limits, the
 * policy's max_file_bytes and the owner's quota, then `addFile` when the bytes are stored.
 */
export async function multipartTarget(
  s: Services,
  p: { id: string; file_count: number; total_size: number; encryption_scheme: string | null },
  owner: { id: string; rules: Awaited<ReturnType<typeof rulesForRole>> },
  through: "owner" | "link",
  record: (received: ReceivedFile, reservationId: string | undefined) => Promise<FileView>,
): Promise<UploadTarget> {
  const limit = withPolicyFileLimit(serverFileLimit(s, await usageWithOpenUploads(s, p)), owner.rules);
  return {
    encrypted: p.encryption_scheme !== null,
    prepare: (announced) => holdUploadRoom(s, owner, p.id, limit, announced, through),
    commit: (received, room) => record(received, room.reservationId),
  };
}

/** How much one more file may hold, given what the package holds; 413 if nothing. */
export function uploadLimits(s: Services, usage: { count: number; bytes: number }): { maxBytes: number; tooLargeDetail: string } {
  if (usage.count >= s.config.maxFilesPerPackage) {
    throw new PayloadTooLarge(`Package already holds the maximum of ${s.config.maxFilesPerPackage} files`);
  }
  const left = s.config.maxPackageBytes - usage.bytes;
  if (left <= 0) throw new PayloadTooLarge(`Package already holds the maximum of ${s.config.maxPackageBytes} bytes`);
  return left < s.config.maxFileBytes
    ? { maxBytes: left, tooLargeDetail: `File is larger than the ${left} bytes left in this package (limit ${s.config.maxPackageBytes} bytes)` }
    : { maxBytes: s.config.maxFileBytes, tooLargeDetail: `File is larger than the limit of ${s.config.maxFileBytes} bytes` };
}

/**
 * What a package holds plus what its unfinished resumable uploads will bring: their room was
 * promised when they were created, so a multipart upload meanwhile cannot take it.
 */
export async function usageWithOpenUploads(s: Services, p: { id: string; file_count: number; total_size: number }): Promise<{ count: number; bytes: number }> {
  const open = await openUploadUsage(s.db, p.id, nowIso(s.clock));
  return { count: p.file_count + open.count, bytes: p.total_size + open.bytes };
}

/** `POST /packages/{id}/files`: the owner adds a file to a draft. */
export async function uploadFile(s: Services, user: Principal, packageId: string): Promise<UploadTarget> {
  const p = await ownedPackage(s, user, packageId, "package.upload");
  if (p.status !== "draft") throw new Conflict("package_not_draft", `Package is ${effectiveStatus(p, s.clock())}; only a draft takes files`);
  const owner = { id: user.userId, rules: await rulesForRole(s, user.role) };
  return multipartTarget(s, p, owner, "owner", (received, reservationId) => addFile(s, p.id, received, (locked) => locked.status === "draft", undefined, reservationId));
}

/**
 * Records a stored file in its package. Everything that may have changed while the bytes were
 * arriving (a finalize, another upload, a deletion) is checked again under the package's lock:
 * whether it still `accepts` files, its limits, and that the name can sit beside the others on a
 * recipient's disk. If the row cannot be written, the bytes are removed.
 */
export async function addFile(
  s: Services,
  packageId: string,
  received: ReceivedFile,
  accepts: (p: PackageRow) => boolean,
  /** More to write in the same transaction once the file is in (audit, webhook events). */
  added?: (trx: Knex, pkg: PackageRow, file: FileView) => Promise<void>,
  /** The quota reservation the upload held: the file's row takes its place, in the same transaction. */
  reservationId?: string,
): Promise<FileView> {
  const row: FileRow = {
    id: crypto.randomUUID(),
    package_id: packageId,
    name: received.name,
    size: received.size,
    sha256: received.sha256,
    content_type: received.contentType,
    storage_key: received.key,
    created_at: nowIso(s.clock),
    sealed: received.sealed,
  };
  try {
    await s.db.transaction(async (trx) => {
      const pkg = await lockPackage(trx, packageId);
      if (!pkg) throw new NotFound("package_not_found", "Package not found");
      if (!accepts(pkg)) throw new Conflict("package_closed", "Package stopped taking files while the file was uploading");
      // The locked row's counters (kept up to date with every file): what the package holds now.
      const counters = pkg as PackageRow & { file_count: number | string; total_size: number | string };
      const usage = { count: Number(counters.file_count), bytes: Number(counters.total_size) };
      uploadLimits(s, usage);
      if (usage.bytes + row.size > s.config.maxPackageBytes) {
        throw new PayloadTooLarge(`Package would exceed its limit of ${s.config.maxPackageBytes} bytes`);
      }
      const clash = await findNameClash(trx, packageId, row.name);
      if (clash) throw nameClash(row.name, clash.name);
      await insertFile(trx, row);
      if (reservationId) await deleteQuotaReservation(trx, reservationId);
      await added?.(trx, pkg, toFileView(row));
    });
  } catch (err) {
    await removeBlobs(s, [received.key]);
    if (isUniqueViolation(err)) throw new Conflict("file_name_taken", `A file named "${row.name}" is already in this package`);
    throw err;
  }
  return toFileView(row);
}

/** The 409 for a name that cannot sit beside one already in the package. */
function nameClash(name: string, existing: string): Conflict {
  if (existing === name) return new Conflict("file_name_taken", `A file named "${name}" is already in this package`);
  if (nameKey(existing) === nameKey(name)) {
    return new Conflict("file_name_taken", `"${name}" differs only in case from "${existing}", already in this package; most recipients' disks cannot hold both`);
  }
  const [folder, file] = existing.length < name.length ? [existing, name] : [name, existing];
  return new Conflict("file_name_taken", `"${folder}" would be both a file and the folder of "${file}"; a recipient's disk cannot hold both`);
}

/** `GET /packages/{id}/files/{file_id}`: the owner's copy of a file. */
export async function downloadFile(s: Services, user: Principal, packageId: string, fileId: string): Promise<FileDownload> {
  const p = await ownedPackage(s, user, packageId, "package.read");
  if (p.purged_at !== null) throw new Gone("package_purged", "The stored bytes of this package were deleted after it expired");
  const f = await findFile(s.db, packageId, fileId);
  if (!f) throw new NotFound("file_not_found", "File not found");
  return { kind: "file", file: f, cacheControl: "private, no-cache" };
}

/** `DELETE /packages/{id}/files/{file_id}`: only from a draft, under the package's lock (a finalize cannot slip in between). */
export async function deleteFile(s: Services, user: Principal, packageId: string, fileId: string): Promise<void> {
  const key = await s.db.transaction(async (trx) => {
    const p = await lockOwnedPackage(trx, user, packageId, "package.update");
    const f = await findFile(trx, packageId, fileId);
    if (!f) throw new NotFound("file_not_found", "File not found");
    if (p.status !== "draft") throw new Conflict("package_not_draft", "Files can only be removed from a draft package");
    if (!(await deleteFileRow(trx, packageId, fileId))) return undefined;
    await queueBlobDeletions(trx, [f.storage_key], s.clock().toISOString());
    return f.storage_key;
  });
  if (key) await deleteQueuedBlobs(s, [key]);
}
