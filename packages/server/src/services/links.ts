import crypto from "node:crypto";
import { Conflict, Forbidden, Gone, NotFound } from "../errors.js";
import { findFile, insertEvent, listEvents, listFiles, type EventType, type FileRow, type PackageWithCounts } from "../db/packages.js";
import { findUserById } from "../db/users.js";
import { ownerUploadNotice } from "../mail/templates.js";
import { effectiveStatus, isLinkSecret, ownedPackage, packageByLinkSecret, toFileView } from "./packages.js";
import { planUpload } from "./files.js";
import { nowIso, type Services } from "./context.js";
import { sha256Hex } from "../security/secrets.js";

/** Who is on the other end of a link request, for the owner's audit trail. */
export interface Client {
  address: string | undefined;
  userAgent: string | undefined;
}

/**
 * The package behind a live link. Unknown → 404; expired, revoked, purged or deleted → 410. The
 * expiry is checked against the clock on every request, so no byte leaves after `expires_at` even
 * when the sweeper has not run yet.
 */
export async function liveLink(s: Services, secret: string): Promise<PackageWithCounts> {
  const p = await packageByLinkSecret(s, secret);
  if (!p) {
    const dead = isLinkSecret(secret) && (await s.db("dead_links").where({ link_hash: sha256Hex(secret) }).first());
    if (dead) throw new Gone("The sender deleted these files");
    throw new NotFound("This link does not exist");
  }
  const status = effectiveStatus(p, s.clock());
  if (status === "expired" || p.purged_at !== null) throw new Gone("This link has expired");
  if (status === "revoked") throw new Gone("This link was revoked by its sender");
  if (status !== "active") throw new Gone("This link is not active");
  return p;
}

export async function linkView(s: Services, p: PackageWithCounts) {
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

export async function recordEvent(
  s: Services,
  packageId: string,
  type: EventType,
  client: Client,
  file?: { id: string; name: string },
): Promise<void> {
  await insertEvent(s.db, {
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

/** A file that the link's recipient may download: outbound links only. */
export async function linkFile(s: Services, p: PackageWithCounts, fileId: string): Promise<FileRow> {
  if (p.direction !== "outbound") throw new Forbidden("Files sent through an upload link cannot be downloaded with it");
  const f = await findFile(s.db, p.id, fileId);
  if (!f) throw new NotFound("File not found");
  return f;
}

export async function linkArchiveFiles(s: Services, p: PackageWithCounts): Promise<FileRow[]> {
  if (p.direction !== "outbound") throw new Forbidden("Files sent through an upload link cannot be downloaded with it");
  return listFiles(s.db, p.id);
}

/** Limits for one recipient upload into an inbound package. */
export function planLinkUpload(s: Services, p: PackageWithCounts) {
  if (p.direction !== "inbound") throw new Conflict("This link is for downloading; it does not take uploads");
  // planUpload wants a draft; an active inbound package is the recipient's "draft".
  return planUpload(s, { ...p, status: "draft" });
}

/** The recipient says they are done: the owner gets an email listing what arrived. */
export async function completeLink(s: Services, p: PackageWithCounts, client: Client) {
  if (p.direction !== "inbound") throw new Conflict("Only an upload link can be completed");
  const now = nowIso(s.clock);
  await s.db("packages").where({ id: p.id }).update({ completed_at: now });
  await recordEvent(s, p.id, "complete", client);
  const owner = await findUserById(s.db, p.owner_id);
  const files = await listFiles(s.db, p.id);
  let email_sent = false;
  if (owner) {
    try {
      await s.mailer.send(
        ownerUploadNotice({
          ownerEmail: owner.email,
          ownerName: owner.name,
          uploaderEmail: p.recipient_email,
          uploaderName: p.recipient_name,
          title: p.title,
          files,
          packageUrl: `${s.config.publicUrl}/api/v1/packages/${p.id}`,
        }),
      );
      email_sent = true;
    } catch (err) {
      s.logger.warn({ packageId: p.id, reason: (err as Error).message }, "could not notify the owner of an upload");
    }
  }
  return { ...(await linkView(s, { ...p, completed_at: now })), email_sent };
}

export async function packageEvents(s: Services, ownerId: string, packageId: string) {
  await ownedPackage(s, ownerId, packageId);
  return (await listEvents(s.db, packageId)).map((e) => ({
    id: e.id,
    type: e.type,
    file_id: e.file_id,
    file_name: e.file_name,
    client_address: e.client_address,
    user_agent: e.user_agent,
    created_at: e.created_at,
  }));
}
