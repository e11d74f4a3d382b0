import type { components } from "../generated/api.js";
import type { FileRow } from "../db/files.js";
import type { PackageRow, PackageStatus, PackageWithCounts } from "../db/packages.js";
import type { LinkRow } from "../db/links.js";
import type { MailRow } from "../db/mail-outbox.js";

type Schemas = components["schemas"];
export type FileView = Schemas["File"];
export type PackageView = Schemas["Package"];

/** Rows as the API shows them (the same shapes in answers and in webhook events). */

export function toFileView(f: FileRow): FileView {
  return { id: f.id, name: f.name, size: f.size, sha256: f.sha256, content_type: f.content_type, created_at: f.created_at, sealed: f.sealed };
}

/** A package's end-to-end encryption as the API shows it; null when it is not encrypted. */
export function encryptionOf(p: Pick<PackageRow, "encryption_scheme" | "encryption_recipient">): Schemas["Encryption"] | null {
  if (p.encryption_scheme === null) return null;
  return p.encryption_recipient === null ? { scheme: p.encryption_scheme } : { scheme: p.encryption_scheme, recipient: p.encryption_recipient };
}

/** The status a package has at `now`: an active package past its expiry is expired, sweeper or not. */
export function effectiveStatus(p: PackageRow, now: Date): PackageStatus {
  if (p.status === "active" && p.expires_at !== null && p.expires_at <= now.toISOString()) return "expired";
  return p.status;
}

export function toPackageView(p: PackageWithCounts, now: Date): PackageView {
  const status = effectiveStatus(p, now);
  // Every finalized package has its recipients' links (package_links); a draft has none.
  const magic_link_state = p.finalized_at === null ? "none" : status === "revoked" ? "revoked" : status === "expired" ? "expired" : "active";
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
    max_downloads: p.max_downloads,
    password_protected: p.password_hash !== null,
    notify_on_download: p.notify_on_download,
    encryption: encryptionOf(p),
    sealed_message: p.sealed_message,
  };
}

/**
 * One recipient's link as the owner sees it; `usedUp`: every file reached max_downloads through
 * it; `mail`: the latest email with its link (none for a link emailed before mail was queued).
 */
export function toLinkView(l: LinkRow, p: PackageRow, now: Date, usedUp: boolean, mail: MailRow | undefined): Schemas["PackageLink"] {
  const status = effectiveStatus(p, now);
  return {
    id: l.id,
    recipient_email: l.recipient_email,
    recipient_name: l.recipient_name,
    state: l.revoked_at !== null || status === "revoked" ? "revoked" : status === "expired" ? "expired" : "active",
    created_at: l.created_at,
    revoked_at: l.revoked_at ?? (status === "revoked" ? p.revoked_at : null),
    download_count: l.download_count,
    first_download_at: l.first_download_at,
    used_up: usedUp,
    mail_state: mail === undefined || mail.state === "cancelled" ? null : mail.state,
    mail_attempts: mail?.attempts ?? 0,
    mail_error: mail?.state === "sent" ? null : (mail?.last_error ?? null),
  };
}
