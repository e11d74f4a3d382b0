import crypto from "node:crypto";
import { Conflict, Forbidden, NotFound, ValidationFailed } from "../errors.js";
import {
  findPackage,
  findPackageByLinkHash,
  insertPackage,
  listFiles,
  listPackageRows,
  type Direction,
  type FileRow,
  type PackageRow,
  type PackageStatus,
  type PackageWithCounts,
} from "../db/packages.js";
import { findUserById } from "../db/users.js";
import { isPostgres } from "../db/knex.js";
import { generateLinkSecret, sha256Hex } from "../security/secrets.js";
import { packageEmail } from "../mail/templates.js";
import { addDays, nowIso, type Services } from "./context.js";

export interface FileView {
  id: string;
  name: string;
  size: number;
  sha256: string;
  content_type: string;
  created_at: string;
}

export function toFileView(f: FileRow): FileView {
  return { id: f.id, name: f.name, size: f.size, sha256: f.sha256, content_type: f.content_type, created_at: f.created_at };
}

/** The status a package has at `now`: an active package past its expiry is expired, sweeper or not. */
export function effectiveStatus(p: PackageRow, now: Date): PackageStatus {
  if (p.status === "active" && p.expires_at !== null && p.expires_at <= now.toISOString()) return "expired";
  return p.status;
}

export function toPackageView(p: PackageWithCounts, now: Date) {
  const status = effectiveStatus(p, now);
  const magic_link_state =
    p.link_hash === null ? "none" : status === "revoked" ? "revoked" : status === "expired" ? "expired" : "active";
  return {
    id: p.id,
    title: p.title,
    recipient_email: p.recipient_email,
    recipient_name: p.recipient_name,
    direction: p.direction,
    status,
    ttl_days: p.ttl_days,
    message: p.message,
    created_at: p.created_at,
    finalized_at: p.finalized_at,
    expires_at: p.expires_at,
    revoked_at: p.revoked_at,
    completed_at: p.completed_at,
    file_count: p.file_count,
    total_size: p.total_size,
    download_count: p.download_count,
    magic_link_state,
  };
}

export async function packageDetail(s: Services, p: PackageWithCounts) {
  return { ...toPackageView(p, s.clock()), files: (await listFiles(s.db, p.id)).map(toFileView) };
}

export interface CreatePackageInput {
  title: string;
  recipient_email: string;
  recipient_name?: string;
  direction: Direction;
  ttl_days: number;
  message?: string;
}

export async function createPackage(s: Services, ownerId: string, input: CreatePackageInput) {
  if (input.ttl_days > s.config.maxTtlDays) {
    throw new ValidationFailed(`ttl_days must be at most ${s.config.maxTtlDays} on this server`, "/body/ttl_days");
  }
  const title = input.title.trim();
  if (title === "") throw new ValidationFailed("title must not be blank", "/body/title");
  const row: PackageRow = {
    id: crypto.randomUUID(),
    owner_id: ownerId,
    title,
    recipient_email: input.recipient_email.trim(),
    recipient_name: input.recipient_name?.trim() || null,
    direction: input.direction,
    status: "draft",
    ttl_days: input.ttl_days,
    message: input.message?.trim() || null,
    link_hash: null,
    created_at: nowIso(s.clock),
    finalized_at: null,
    expires_at: null,
    revoked_at: null,
    completed_at: null,
    purged_at: null,
  };
  await insertPackage(s.db, row);
  return { ...toPackageView({ ...row, file_count: 0, total_size: 0, download_count: 0 }, s.clock()), files: [] };
}

/**
 * The package if it exists and belongs to the caller. Another user's package is 403 (the seed's
 * rule), an unknown id 404.
 */
export async function ownedPackage(s: Services, ownerId: string, id: string): Promise<PackageWithCounts> {
  const p = await findPackage(s.db, id);
  if (!p) throw new NotFound("Package not found");
  if (p.owner_id !== ownerId) throw new Forbidden("You do not have access to this package");
  return p;
}

export async function listPackages(
  s: Services,
  ownerId: string,
  opts: { page: number; perPage: number; status?: PackageStatus; direction?: Direction; q?: string },
) {
  const now = s.clock();
  const { rows, total } = await listPackageRows(
    s.db,
    { ownerId, status: opts.status, direction: opts.direction, q: opts.q, now: now.toISOString() },
    { limit: opts.perPage, offset: (opts.page - 1) * opts.perPage },
  );
  return { items: rows.map((r) => toPackageView(r, now)), total, page: opts.page, per_page: opts.perPage };
}

/**
 * draft → active: mints the magic link (only its hash is stored), sets the expiry, then emails the
 * recipient. The state change commits before the email is attempted, so an SMTP failure never
 * loses the package: the answer says `email_sent: false` and why.
 */
export async function finalizePackage(s: Services, ownerId: string, id: string) {
  const secret = generateLinkSecret();
  const now = s.clock();
  await s.db.transaction(async (trx) => {
    const q = trx("packages").where({ id });
    const locked = (await (isPostgres(s.db) ? q.forUpdate() : q).first()) as PackageRow | undefined;
    if (!locked) throw new NotFound("Package not found");
    if (locked.owner_id !== ownerId) throw new Forbidden("You do not have access to this package");
    if (locked.status !== "draft") throw new Conflict(`Package is already ${effectiveStatus(locked, now)}; only a draft can be finalized`);
    if (locked.direction === "outbound") {
      const row = await trx("files").where({ package_id: id }).count<{ n: number | string }[]>({ n: "*" }).first();
      if (Number(row?.n ?? 0) === 0) throw new ValidationFailed("An outbound package needs at least one file before it is finalized", "/files");
    }
    await trx("packages")
      .where({ id })
      .update({
        status: "active",
        finalized_at: now.toISOString(),
        expires_at: addDays(now, locked.ttl_days).toISOString(),
        link_hash: sha256Hex(secret),
      });
  });

  const p = (await findPackage(s.db, id))!;
  const detail = await packageDetail(s, p);
  const magicLink = `${s.config.publicUrl}/l/${secret}`;
  const owner = await findUserById(s.db, ownerId);
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
function mailErrorSummary(err: unknown): string {
  const e = err as { code?: string; responseCode?: number; message?: string };
  const parts = [e.code, e.responseCode ? `SMTP ${e.responseCode}` : undefined].filter(Boolean);
  const msg = (e.message ?? "unknown error").replace(/\/\/[^@\s/]*@/g, "//***@").slice(0, 200);
  return parts.length > 0 ? `${parts.join(" ")}: ${msg}` : msg;
}

export async function revokePackage(s: Services, ownerId: string, id: string) {
  const p = await ownedPackage(s, ownerId, id);
  const now = s.clock();
  const status = effectiveStatus(p, now);
  if (status !== "active") throw new Conflict(`Package is ${status}; only an active package can be revoked`);
  const n = await s.db("packages").where({ id, status: "active" }).update({ status: "revoked", revoked_at: now.toISOString() });
  if (n === 0) throw new Conflict("Package changed meanwhile; it is no longer active");
  return packageDetail(s, (await findPackage(s.db, id))!);
}

/** Deletes the rows, then the stored bytes. */
export async function deletePackage(s: Services, ownerId: string, id: string): Promise<void> {
  const p = await ownedPackage(s, ownerId, id);
  const keys = await s.db.transaction(async (trx) => {
    if (p.link_hash) await trx("dead_links").insert({ link_hash: p.link_hash, died_at: nowIso(s.clock) });
    const files = await trx("files").where({ package_id: id }).select<{ storage_key: string }[]>("storage_key");
    await trx("files").where({ package_id: id }).delete();
    await trx("packages").where({ id }).delete();
    return files.map((f) => f.storage_key);
  });
  await removeBlobs(s, keys);
}

export async function removeBlobs(s: Services, keys: string[]): Promise<void> {
  for (const key of keys) {
    try {
      await s.storage.delete(key);
    } catch (err) {
      s.logger.error({ err, key }, "could not delete stored bytes");
    }
  }
}

/** The shape of a magic-link secret: base64url of 32 bytes. */
export function isLinkSecret(secret: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(secret);
}

/** Resolves a magic-link secret to its package (any state; callers decide what a dead link gets). */
export async function packageByLinkSecret(s: Services, secret: string): Promise<PackageWithCounts | undefined> {
  if (!isLinkSecret(secret)) return undefined;
  return findPackageByLinkHash(s.db, sha256Hex(secret));
}
