import crypto from "node:crypto";
import type { components } from "@speedyfiles/api-types";
import { Conflict, Forbidden, NotFound, ValidationFailed } from "../errors.js";
import {
  activatePackage,
  deletePackageRow,
  findPackage,
  insertPackage,
  listPackageRows,
  lockPackage,
  revokePackageRow,
  type Direction,
  type PackageRow,
  type PackageCursor,
  type PackageStatus,
  type PackageWithCounts,
} from "../db/packages.js";
import { deleteFilesOf, listFiles, packageUsage, storageKeysOf, type FileRow } from "../db/files.js";
import { listEvents } from "../db/events.js";
import { openUploadIdsOf, openUploadUsage } from "../db/uploads.js";
import { insertDeadLink } from "../db/dead-links.js";
import { queueBlobDeletions } from "../db/blob-deletions.js";
import { deleteQueuedBlobs } from "./blob-deletions.js";
import { findUserById } from "../db/users.js";
import { generateLinkSecret, sha256Hex } from "../security/secrets.js";
import { packageEmail } from "../mail/templates.js";
import { cleanOptionalText, cleanText } from "./text.js";
import { effectiveStatus, toFileView, toPackageView } from "./views.js";
import { emitPackageEvent } from "./package-events.js";
export { effectiveStatus, toFileView, toPackageView, type FileView, type PackageView } from "./views.js";
import { addDays, nowIso, type Principal, type Services } from "./context.js";

type Schemas = components["schemas"];
export type PackageDetail = Schemas["PackageDetail"];

export async function packageDetail(s: Services, p: PackageWithCounts): Promise<PackageDetail> {
  return { ...toPackageView(p, s.clock()), files: (await listFiles(s.db, p.id)).map(toFileView) };
}

/** `POST /packages`: a draft. */
export async function createPackage(s: Services, user: Principal, input: Schemas["PackageCreateRequest"]): Promise<PackageDetail> {
  if (input.ttl_days > s.config.maxTtlDays) {
    throw new ValidationFailed(`ttl_days must be at most ${s.config.maxTtlDays} on this server`, "/body/ttl_days");
  }
  const title = cleanText(input.title, "/body/title");
  if (title === "") throw new ValidationFailed("title must not be blank", "/body/title");
  const row: PackageRow = {
    id: crypto.randomUUID(),
    owner_id: user.userId,
    title,
    recipient_email: input.recipient_email.trim(),
    recipient_name: cleanOptionalText(input.recipient_name, "/body/recipient_name"),
    direction: input.direction,
    status: "draft",
    ttl_days: input.ttl_days,
    message: cleanOptionalText(input.message, "/body/message", { multiline: true }),
    link_hash: null,
    created_at: nowIso(s.clock),
    finalized_at: null,
    expires_at: null,
    revoked_at: null,
    completed_at: null,
    completed_file_count: 0,
    purged_at: null,
  };
  await s.db.transaction(async (trx) => {
    await insertPackage(trx, row);
    await emitPackageEvent(trx, s, "package.created", row);
  });
  return { ...toPackageView({ ...row, file_count: 0, total_size: 0, download_count: 0 }, s.clock()), files: [] };
}

/** The caller may act on this package (the seed's rule: another user's package is 403). */
function checkOwner(p: PackageRow, user: Principal): void {
  if (p.owner_id !== user.userId) throw new Forbidden("package_forbidden", "You do not have access to this package");
}

/** The package if it exists and belongs to the caller; an unknown id is 404. */
export async function ownedPackage(s: Services, user: Principal, id: string): Promise<PackageWithCounts> {
  const p = await findPackage(s.db, id);
  if (!p) throw new NotFound("package_not_found", "Package not found");
  checkOwner(p, user);
  return p;
}

/**
 * Locks the caller's package for the transaction `trx` (see lockForUpdate): every status check
 * that leads to a change happens under this lock, so a finalize, an upload and a file deletion
 * of one package never interleave.
 */
export async function lockOwnedPackage(trx: Services["db"], user: Principal, id: string): Promise<PackageRow> {
  const p = await lockPackage(trx, id);
  if (!p) throw new NotFound("package_not_found", "Package not found");
  checkOwner(p, user);
  return p;
}

/** `GET /packages/{id}`. */
export async function getPackage(s: Services, user: Principal, id: string): Promise<PackageDetail> {
  return packageDetail(s, await ownedPackage(s, user, id));
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
    { ownerId: user.userId, status: opts.status, direction: opts.direction, q: q || undefined, idPrefix: opts.idPrefix?.toLowerCase(), now: now.toISOString() },
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
 * `POST /packages/{id}/finalize`: draft → active. Mints the magic link (only its hash is stored)
 * and sets the expiry under the package's lock, then emails the recipient. The state change
 * commits before the email is attempted, so an SMTP failure never loses the package: the answer
 * says `email_sent: false` and why.
 */
export async function finalizePackage(s: Services, user: Principal, id: string): Promise<Schemas["FinalizedPackage"]> {
  const secret = generateLinkSecret();
  const now = s.clock();
  await s.db.transaction(async (trx) => {
    const locked = await lockOwnedPackage(trx, user, id);
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
      link_hash: sha256Hex(secret),
    });
    await emitPackageEvent(trx, s, "package.finalized", locked);
  });

  const p = (await findPackage(s.db, id))!;
  const detail = await packageDetail(s, p);
  const magicLink = `${s.config.publicUrl}/l/${secret}`;
  const owner = await findUserById(s.db, user.userId);
  let email_error: string | null = null;
  try {
    await s.mailer.send(
      packageEmail({
        direction: p.direction,
        senderName: owner?.name ?? "A SpeedyFiles user",
        senderEmail: owner?.email ?? "",
        recipientEmail: p.recipient_email,
        recipientName: p.recipient_name,
        title: p.title,
        message: p.message,
        files: detail.files,
        link: magicLink,
        expiresAt: p.expires_at!,
      }),
    );
  } catch (err) {
    email_error = mailErrorSummary(err);
    s.logger.warn({ packageId: id, reason: email_error }, "could not send the package email");
  }
  return { ...detail, magic_link: magicLink, email_sent: email_error === null, email_error };
}

/** A short reason for a failed send, without credentials or message content. */
export function mailErrorSummary(err: unknown): string {
  const e = err as { code?: string; responseCode?: number; message?: string };
  const parts = [e.code, e.responseCode ? `SMTP ${e.responseCode}` : undefined].filter(Boolean);
  const msg = (e.message ?? "unknown error").replace(/\/\/[^@\s/]*@/g, "//***@").slice(0, 200);
  return parts.length > 0 ? `${parts.join(" ")}: ${msg}` : msg;
}

/** `POST /packages/{id}/revoke`: active → revoked. */
export async function revokePackage(s: Services, user: Principal, id: string): Promise<PackageDetail> {
  const p = await ownedPackage(s, user, id);
  const now = s.clock();
  const status = effectiveStatus(p, now);
  if (status !== "active") throw new Conflict("package_not_active", `Package is ${status}; only an active package can be revoked`);
  await s.db.transaction(async (trx) => {
    if (!(await revokePackageRow(trx, id, now.toISOString()))) throw new Conflict("package_not_active", "Package changed meanwhile; it is no longer active");
    await emitPackageEvent(trx, s, "package.revoked", p);
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
    const p = await lockOwnedPackage(trx, user, id);
    uploadIds = await openUploadIdsOf(trx, id);
    // Reported as it was just before it went.
    await emitPackageEvent(trx, s, "package.deleted", p);
    if (p.link_hash) await insertDeadLink(trx, p.link_hash, nowIso(s.clock));
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
  await ownedPackage(s, user, id);
  return (await listEvents(s.db, id)).map((e) => ({
    id: e.id,
    type: e.type,
    file_id: e.file_id,
    file_name: e.file_name,
    client_address: e.client_address,
    user_agent: e.user_agent,
    created_at: e.created_at,
  }));
}

