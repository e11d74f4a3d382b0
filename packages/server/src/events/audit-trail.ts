import crypto from "node:crypto";
import type { Knex } from "knex";
import { insertAuditEvent, type AuditEventType } from "../db/audit-events.js";
import { findPackage } from "../db/packages.js";
import { listFiles } from "../db/files.js";
import { listLinks } from "../db/links.js";
import type { Client, Principal, Services } from "../services/context.js";
import type { DomainEvent } from "./types.js";

/** File entries a `package.finalized` event lists at most (the count and total size are always there). */
export const MAX_LISTED_FILES = 1000;

/** Who acted: a principal, or only a user's id where no principal is at hand (a reset link, a sign-in under way). */
export type AuditActor = Pick<Principal, "userId"> & Partial<Pick<Principal, "profile" | "client">>;

/** One event of the instance's audit trail, as services describe it. */
export interface AuditInput {
  type: AuditEventType;
  /** Who acted: null for nobody signed in (a recipient's link, the sweeper, a failed sign-in). */
  actor: AuditActor | null;
  /** Where the request came from; the actor's by default. */
  client?: Client | undefined;
  /** The user it is about (a package's owner, the user changed). */
  userId?: string | null;
  packageId?: string | null;
  linkId?: string | null;
  fileId?: string | null;
  /** The details: never a password, a token, a link secret or a key. */
  data: Record<string, unknown>;
}

/**
 * Records one event of the instance's audit trail (GET /admin/events) in `db`, which should be
 * the transaction of the change it records, so the two exist together.
 */
export async function recordAuditEvent(db: Knex, s: Pick<Services, "clock">, e: AuditInput): Promise<void> {
  const client = e.client ?? e.actor?.client;
  await insertAuditEvent(db, {
    id: crypto.randomUUID(),
    type: e.type,
    actor_user_id: e.actor?.userId ?? null,
    subject_id: e.packageId ?? e.userId ?? null,
    data: JSON.stringify(e.data),
    client_address: client?.address?.slice(0, 100) ?? null,
    user_agent: client?.userAgent?.slice(0, 500) ?? null,
    created_at: s.clock().toISOString(),
    ...(e.actor?.profile ? { actor_email: e.actor.profile.email } : {}),
    user_id: e.userId ?? null,
    package_id: e.packageId ?? null,
    link_id: e.linkId ?? null,
    file_id: e.fileId ?? null,
  });
}

/**
 * The audit trail's record of a domain event (emit calls it in the event's transaction): what
 * happened to a package and its links, by whom (`actor`; null for a recipient or the sweeper).
 * Events the trail does not keep (receipts, webhooks) record nothing.
 */
export async function recordDomainEvent(trx: Knex, s: Services, e: DomainEvent, actor: Principal | null): Promise<void> {
  // A reset mail is recorded by the reset itself (password_reset.requested, user.password_reset_forced).
  if (e.type === "webhook.ping" || e.type === "webhook.disabled" || e.type === "link.first_download" || e.type === "link.used_up" || e.type === "password_reset.mail") return;
  const base = { actor, userId: e.pkg.owner_id, packageId: e.pkg.id };
  const p = await findPackage(trx, e.pkg.id);
  const title = p?.title ?? null;
  switch (e.type) {
    case "package.created": {
      const links = await listLinks(trx, e.pkg.id);
      const data = p && {
        title,
        direction: p.direction,
        recipients: links.map((l) => l.recipient_email),
        ttl_days: p.ttl_days,
        encrypted: p.encryption_scheme !== null,
        password_protected: p.password_hash !== null,
        max_downloads: p.max_downloads,
      };
      return recordAuditEvent(trx, s, { ...base, type: e.type, data: data ?? {} });
    }
    case "package.finalized": {
      const files = await listFiles(trx, e.pkg.id);
      return recordAuditEvent(trx, s, {
        ...base,
        type: e.type,
        data: {
          title,
          direction: p?.direction ?? null,
          recipients: e.links.map((l) => l.link.recipient_email),
          file_count: files.length,
          total_size: files.reduce((n, f) => n + Number(f.size), 0),
          files: files.slice(0, MAX_LISTED_FILES).map((f) => ({ name: f.name, size: Number(f.size) })),
          ...(files.length > MAX_LISTED_FILES ? { files_listed: MAX_LISTED_FILES } : {}),
          encrypted: p ? p.encryption_scheme !== null : false,
          password_protected: p ? p.password_hash !== null : false,
          expires_at: p?.expires_at ?? null,
          recipients_emailed: e.mail !== false,
        },
      });
    }
    case "package.links_resent":
      for (const { link } of e.links) {
        await recordAuditEvent(trx, s, {
          ...base,
          type: "link.resent",
          linkId: link.id,
          data: { title, recipient_email: link.recipient_email, expires_at: p?.expires_at ?? null },
        });
      }
      return;
    case "link.revoked":
      return recordAuditEvent(trx, s, { ...base, type: e.type, linkId: e.link.id, data: { title, recipient_email: e.link.recipient_email } });
    case "package.revoked":
      return recordAuditEvent(trx, s, { ...base, type: e.type, data: { title } });
    case "package.expired":
      return recordAuditEvent(trx, s, { ...base, type: e.type, data: { title, expires_at: p?.expires_at ?? null } });
    case "package.deleted": {
      const files = await listFiles(trx, e.pkg.id);
      return recordAuditEvent(trx, s, {
        ...base,
        type: e.type,
        data: { title, status: p?.status ?? null, file_count: files.length, total_size: files.reduce((n, f) => n + Number(f.size), 0) },
      });
    }
    case "package.downloaded":
      return recordAuditEvent(trx, s, {
        ...base,
        actor: null,
        client: e.client,
        type: e.type,
        linkId: e.link.id,
        fileId: e.file?.id ?? null,
        data: { title, recipient_email: e.link.recipient_email, what: e.file ? "file" : "archive", ...(e.file ? { file_name: e.file.name, size: e.file.size } : {}) },
      });
    case "package.uploaded":
      return recordAuditEvent(trx, s, {
        ...base,
        actor: null,
        client: e.client,
        type: e.type,
        linkId: e.link.id,
        fileId: e.file.id,
        data: { title, recipient_email: e.link.recipient_email, file_name: e.file.name, size: e.file.size },
      });
    case "package.completed":
      return recordAuditEvent(trx, s, {
        ...base,
        actor: null,
        client: e.client,
        type: e.type,
        linkId: e.link.id,
        data: { title, recipient_email: e.link.recipient_email, file_count: p ? (await listFiles(trx, p.id)).length : 0 },
      });
  }
}
