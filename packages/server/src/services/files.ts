import crypto from "node:crypto";
import { Conflict, Gone, NotFound, PayloadTooLarge } from "../errors.js";
import { findFile, type FileRow, type PackageWithCounts } from "../db/packages.js";
import { isPostgres, isUniqueViolation } from "../db/knex.js";
import type { ReceivedFile } from "../http/multipart.js";
import { effectiveStatus, ownedPackage, removeBlobs, toFileView, type FileView } from "./packages.js";
import { nowIso, type Services } from "./context.js";

export interface UploadPlan {
  /** The most bytes this one file may have: the per-file limit or what the package has left. */
  maxBytes: number;
  tooLargeDetail: string;
}

/** Checks that a package can take one more file, before a byte of it is read. */
export function planUpload(s: Services, p: PackageWithCounts): UploadPlan {
  if (p.status !== "draft") throw new Conflict(`Package is ${effectiveStatus(p, s.clock())}; only a draft takes files`);
  if (p.file_count >= s.config.maxFilesPerPackage) {
    throw new PayloadTooLarge(`Package already holds the maximum of ${s.config.maxFilesPerPackage} files`);
  }
  const left = s.config.maxPackageBytes - p.total_size;
  if (left <= 0) throw new PayloadTooLarge(`Package already holds the maximum of ${s.config.maxPackageBytes} bytes`);
  return left < s.config.maxFileBytes
    ? { maxBytes: left, tooLargeDetail: `File is larger than the ${left} bytes left in this package (limit ${s.config.maxPackageBytes} bytes)` }
    : { maxBytes: s.config.maxFileBytes, tooLargeDetail: `File is larger than the limit of ${s.config.maxFileBytes} bytes` };
}

export async function ownedDraftForUpload(s: Services, ownerId: string, packageId: string) {
  const p = await ownedPackage(s, ownerId, packageId);
  return { pkg: p, plan: planUpload(s, p) };
}

/**
 * Records a received file. Re-checks the package under a row lock (PostgreSQL) or SQLite's single
 * writer, because a finalize or another upload may have happened while the bytes were arriving.
 * If the row cannot be written, the bytes are removed.
 */
export async function addFile(
  s: Services,
  packageId: string,
  received: ReceivedFile,
  opts: { allowActiveInbound?: boolean } = {},
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
  };
  try {
    await s.db.transaction(async (trx) => {
      const q = trx("packages").where({ id: packageId });
      const pkg = await (isPostgres(s.db) ? q.forUpdate() : q).first();
      if (!pkg) throw new NotFound("Package not found");
      const open =
        pkg.status === "draft" ||
        (opts.allowActiveInbound === true && pkg.status === "active" && pkg.direction === "inbound" && pkg.expires_at > nowIso(s.clock));
      if (!open) throw new Conflict("Package stopped taking files while the file was uploading");
      const agg = await trx("files")
        .where({ package_id: packageId })
        .first(trx.raw("count(*) as n"), trx.raw("coalesce(sum(size), 0) as total"));
      if (Number(agg?.n ?? 0) >= s.config.maxFilesPerPackage) {
        throw new PayloadTooLarge(`Package already holds the maximum of ${s.config.maxFilesPerPackage} files`);
      }
      if (Number(agg?.total ?? 0) + row.size > s.config.maxPackageBytes) {
        throw new PayloadTooLarge(`Package would exceed its limit of ${s.config.maxPackageBytes} bytes`);
      }
      if (await trx("files").where({ package_id: packageId, name: row.name }).first("id")) {
        throw new Conflict(`A file named "${row.name}" is already in this package`);
      }
      await trx("files").insert(row);
    });
  } catch (err) {
    await removeBlobs(s, [received.key]);
    if (isUniqueViolation(err)) throw new Conflict(`A file named "${row.name}" is already in this package`);
    throw err;
  }
  return toFileView(row);
}

export async function ownedFile(s: Services, ownerId: string, packageId: string, fileId: string): Promise<FileRow> {
  const p = await ownedPackage(s, ownerId, packageId);
  if (p.purged_at !== null) throw new Gone("The stored bytes of this package were deleted after it expired");
  const f = await findFile(s.db, packageId, fileId);
  if (!f) throw new NotFound("File not found");
  return f;
}

export async function deleteFile(s: Services, ownerId: string, packageId: string, fileId: string): Promise<void> {
  const p = await ownedPackage(s, ownerId, packageId);
  const f = await findFile(s.db, packageId, fileId);
  if (!f) throw new NotFound("File not found");
  if (p.status !== "draft") throw new Conflict("Files can only be removed from a draft package");
  const n = await s.db("files").where({ id: fileId, package_id: packageId }).delete();
  if (n > 0) await removeBlobs(s, [f.storage_key]);
}
