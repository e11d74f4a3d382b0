import crypto from "node:crypto";
import type { Knex } from "knex";
import { Conflict, Gone, NotFound, PayloadTooLarge, ValidationFailed } from "../errors.js";
import { findFile, findNameClash, packageUsage } from "../db/files.js";
import { lockPackage, type PackageRow } from "../db/packages.js";
import {
  deleteUpload,
  expiredUploads,
  findOpenUploadNamed,
  findUpload,
  findUploadById,
  insertUpload,
  markUploadCompleted,
  openUploadUsage,
  setReceived,
  type UploadRow,
} from "../db/uploads.js";
import { checkFileName, normaliseContentType } from "./file-names.js";
import { checkSealed } from "./encryption.js";
import { addFile, uploadLimits } from "./files.js";
import { effectiveStatus, ownedPackage, toFileView, type FileView } from "./packages.js";
import { acceptsRecipientFiles, liveLink, recordUploadThroughLink } from "./links.js";
import { nowIso, type Client, type Principal, type Services } from "./context.js";
import { checkFileSize } from "../policies/instance-rules.js";
import { rulesForUser } from "./policy.js";
import { checkUploadFits } from "./quota.js";

/**
 * Resumable uploads (tus 1.0). The tus server (http/tus.ts) moves the bytes; this file holds the
 * rules, the same as for a multipart upload (services/files.ts): checked at creation before any
 * byte is sent, and again when the last byte has arrived and the file is added with `addFile`.
 */

/** Whose upload it is: the owner's package, or an inbound link's. */
export interface UploadScope {
  packageId: string;
  /** The package's owner: their policy and quota apply (an inbound link's uploads included). */
  ownerId: string;
  via: "owner" | "link";
  /** The URL path under which the package's uploads live (`/api/v1/…/uploads`). */
  basePath: string;
  /** The package is encrypted end to end: each upload needs its `sealed` entry (others refuse one). */
  encrypted: boolean;
  accepts(p: PackageRow): boolean;
  added?(trx: Knex, pkg: PackageRow, file: FileView): Promise<void>;
}

/** The owner's uploads of one of their packages (403 another user's, 404 unknown). */
export async function ownerScope(s: Services, user: Principal, packageId: string): Promise<UploadScope> {
  const p = await ownedPackage(s, user, packageId, "package.upload");
  return {
    packageId: p.id,
    ownerId: p.owner_id,
    via: "owner",
    basePath: `/api/v1/packages/${p.id}/uploads`,
    encrypted: p.encryption_scheme !== null,
    accepts: (locked) => locked.status === "draft",
  };
}

/** The uploads of an inbound link's recipient (404 unknown link, 410 dead, 409 not inbound). */
export async function linkScope(s: Services, secret: string, client: Client): Promise<UploadScope> {
  const l = await liveLink(s, secret);
  const p = l.pkg;
  if (p.direction !== "inbound") throw new Conflict("link_not_inbound", "This link is for downloading; it does not take uploads");
  return {
    packageId: p.id,
    ownerId: p.owner_id,
    via: "link",
    basePath: `/api/v1/links/${secret}/uploads`,
    encrypted: p.encryption_scheme !== null,
    accepts: acceptsRecipientFiles(s.clock),
    added: (trx, pkg, file) => recordUploadThroughLink(trx, s, l, pkg, file, client),
  };
}

export interface NewUpload {
  size: number | undefined;
  metadata: Record<string, string | null> | undefined;
}

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/**
 * `POST …/uploads`: checks the name, the size and the package's limits (the files it holds plus
 * the unfinished uploads it expects) under the package's lock, the policy's max_file_bytes and
 * the owner's quota (under the owner's lock: the upload's row holds its room until it finishes or
 * goes), then records the upload. Throws the same errors as a multipart upload would, before a
 * byte is sent.
 */
export async function beginUpload(s: Services, scope: UploadScope, id: string, input: NewUpload): Promise<UploadRow> {
  if (input.size === undefined) {
    throw new ValidationFailed("Upload-Length is required (deferred lengths are not supported)", "/header/Upload-Length", "upload_length_required");
  }
  const size = input.size;
  const meta = input.metadata ?? {};
  const checked = checkFileName(meta.filename ?? undefined);
  if (!checked.ok) {
    throw new ValidationFailed(meta.filename ? checked.reason : "Upload-Metadata needs a filename", "/header/Upload-Metadata/filename", "file_name_invalid");
  }
  const sha = meta.sha256 ?? undefined;
  if (sha !== undefined && !SHA256_HEX.test(sha)) {
    throw new ValidationFailed("sha256 must be 64 hexadecimal characters", "/header/Upload-Metadata/sha256");
  }
  // A key without a value (`sealed` alone) is there, and empty: refused as not base64.
  const sealed = checkSealed(meta.sealed === null ? "" : meta.sealed, scope.encrypted, "/header/Upload-Metadata/sealed");
  const rules = await rulesForUser(s, scope.ownerId);
  checkFileSize(rules, size, "/header/Upload-Length");
  const now = s.clock();
  const row = {
    id,
    package_id: scope.packageId,
    name: checked.name,
    size,
    sha256: sha?.toLowerCase() ?? null,
    content_type: normaliseContentType(meta.content_type ?? meta.filetype ?? undefined),
    via: scope.via,
    created_at: now.toISOString(),
    expires_at: new Date(now.getTime() + s.config.uploadExpiryHours * 3_600_000).toISOString(),
    sealed,
  };
  await s.db.transaction(async (trx) => {
    const pkg = await lockPackage(trx, scope.packageId);
    if (!pkg) throw new NotFound("package_not_found", "Package not found");
    if (!scope.accepts(pkg)) {
      if (scope.via === "owner") throw new Conflict("package_not_draft", `Package is ${effectiveStatus(pkg, now)}; only a draft takes files`);
      throw new Conflict("package_closed", "This link no longer takes files");
    }
    const files = await packageUsage(trx, scope.packageId);
    const open = await openUploadUsage(trx, scope.packageId, row.created_at);
    const limits = uploadLimits(s, { count: files.count + open.count, bytes: files.bytes + open.bytes });
    if (size > limits.maxBytes) throw new PayloadTooLarge(limits.tooLargeDetail);
    const clash = (await findNameClash(trx, scope.packageId, row.name)) ?? (await findOpenUploadNamed(trx, scope.packageId, row.name, row.created_at));
    if (clash) throw new Conflict("file_name_taken", `A file named "${clash.name}" is already in this package or on its way`);
    await checkUploadFits(trx, scope.ownerId, rules, size, row.created_at, scope.via);
    await insertUpload(trx, row);
  });
  return (await findUploadById(s.db, id))!;
}

/** An upload of this scope (404 otherwise; 410 once an unfinished one has expired). */
export async function scopedUpload(s: Services, scope: UploadScope, id: string): Promise<UploadRow> {
  const u = await findUpload(s.db, scope.packageId, id);
  if (!u) throw new NotFound("upload_not_found", "Upload not found");
  if (u.completed_at === null && u.expires_at <= nowIso(s.clock)) throw new Gone("upload_expired", "This upload expired before it was finished; start it again");
  return u;
}

/** The file a finished upload became (for a client that lost the last answer). */
export async function fileOfUpload(s: Services, u: UploadRow): Promise<FileView | undefined> {
  const f = u.file_id ? await findFile(s.db, u.package_id, u.file_id) : undefined;
  return f ? toFileView(f) : undefined;
}

export async function noteReceived(s: Services, id: string, received: number): Promise<void> {
  await setReceived(s.db, id, received);
}

/**
 * The last byte has arrived: the SHA-256 of the stored bytes, the expected one checked, the bytes
 * moved into the blob store, and the file added exactly as a multipart upload adds it (limits and
 * names again under the package's lock, counters, audit, webhooks), the upload marked finished in
 * the same transaction. On any refusal the upload and its bytes are removed: nothing is left.
 * Runs under the upload's lock (one finisher at a time); a second call returns the same file.
 */
export async function finishUpload(s: Services, scope: UploadScope, id: string): Promise<FileView> {
  const u = await findUpload(s.db, scope.packageId, id);
  if (!u) throw new NotFound("upload_not_found", "Upload not found");
  if (u.completed_at !== null) {
    const done = await fileOfUpload(s, u);
    if (done) return done;
    throw new NotFound("upload_not_found", "The file of this upload was deleted");
  }
  const abandon = async () => {
    await s.uploads.remove(id).catch((err: unknown) => s.logger.error({ err, uploadId: id }, "could not remove an upload's bytes"));
    await deleteUpload(s.db, id);
  };
  let sha256: string;
  try {
    sha256 = await s.uploads.sha256(id, u.size);
  } catch (err) {
    await abandon();
    throw err;
  }
  if (u.sha256 !== null && u.sha256 !== sha256) {
    await abandon();
    throw new ValidationFailed(`SHA-256 mismatch: the bytes received hash to ${sha256}`, "/header/Upload-Metadata/sha256", "checksum_mismatch");
  }
  let key: string | undefined;
  try {
    const blob = await s.uploads.moveToBlobStore(id, s.storage);
    key = blob.key;
    return await addFile(
      s,
      scope.packageId,
      { name: u.name, contentType: u.content_type, key: blob.key, size: blob.size, sha256, sealed: u.sealed },
      scope.accepts,
      async (trx, pkg, file) => {
        await markUploadCompleted(trx, id, file.id, nowIso(s.clock));
        await scope.added?.(trx, pkg, file);
      },
    );
  } catch (err) {
    // addFile has removed the blob; the upload row goes too.
    if (key === undefined) await abandon();
    else await deleteUpload(s.db, id);
    throw err;
  }
}

/**
 * A creation that was refused (413 for a body longer than its Upload-Length, …) or whose client
 * went away before learning its URL: nobody can resume or DELETE it, so nothing of it stays (no
 * row, no bytes, the name free). A finished upload (its file is in) is left alone. Never throws.
 */
export async function discardCreation(s: Services, id: string): Promise<void> {
  const u = await findUploadById(s.db, id);
  if (u && u.completed_at !== null) return;
  await s.uploads.remove(id).catch((err: unknown) => s.logger.error({ err, uploadId: id }, "could not remove an upload's bytes"));
  if (u) await deleteUpload(s.db, id);
}

/** After a tus termination: the row goes (the bytes are already gone). */
export async function forgetUpload(s: Services, id: string): Promise<void> {
  await deleteUpload(s.db, id);
}

/** Sweeper: unfinished uploads past `expires_at` lose their bytes and their row. */
export async function sweepExpiredUploads(s: Services): Promise<number> {
  let removed = 0;
  for (;;) {
    const ids = await expiredUploads(s.db, nowIso(s.clock), 50);
    for (const id of ids) {
      await s.uploads.remove(id);
      await deleteUpload(s.db, id);
    }
    removed += ids.length;
    if (ids.length < 50) return removed;
  }
}

/** Removes the bytes of uploads whose rows are gone (a deleted package). Never throws. */
export async function removeUploadBytes(s: Services, ids: string[]): Promise<void> {
  for (const id of ids) {
    await s.uploads.remove(id).catch((err: unknown) => s.logger.error({ err, uploadId: id }, "could not remove an upload's bytes"));
  }
}

/** A fresh upload id (the tus store's name for it). */
export function newUploadId(): string {
  return crypto.randomUUID();
}
