import crypto from "node:crypto";
import type { Knex } from "knex";
import { cancelQueuedLinkMail, cancelQueuedResetMail, insertMail, type MailKind } from "../db/mail-outbox.js";
import { findPackage } from "../db/packages.js";
import { listFiles } from "../db/files.js";
import { findUserById } from "../db/users.js";
import type { MailMessage } from "../mail/mailer.js";
import { passwordResetEmail } from "../mail/password-reset.js";
import { seal } from "../mail/sealing.js";
import { downloadReceipt, downloadsUsedUpNotice, ownerUploadNotice, packageEmail, webhookDisabledNotice } from "../mail/templates.js";
import type { Services } from "../services/context.js";
import type { DomainEvent } from "./types.js";

interface Queued {
  kind: MailKind;
  message: MailMessage;
  packageId: string | null;
  linkId: string | null;
}

/**
 * The mail outbox: the messages an event causes, each written (sealed with the server key) in
 * the event's transaction, for the mail worker (jobs/mail-worker.ts) to send. Returns how many.
 */
export async function queueMail(trx: Knex, s: Services, e: DomainEvent, now: Date): Promise<number> {
  const messages = await messagesOf(trx, s, e, now);
  for (const m of messages) {
    // A link's newer email replaces one still waiting (that link no longer works).
    if (m.kind === "package_link" && m.linkId) await cancelQueuedLinkMail(trx, m.linkId);
    // So does a newer password reset email to the same address (the older link was replaced).
    if (m.kind === "password_reset") await cancelQueuedResetMail(trx, m.message.to);
    const id = crypto.randomUUID();
    await insertMail(trx, {
      id,
      kind: m.kind,
      recipient: m.message.to,
      package_id: m.packageId,
      link_id: m.linkId,
      state: "queued",
      key_id: s.sealingKey.id,
      body: seal(s.sealingKey, JSON.stringify(m.message), id),
      attempts: 0,
      next_attempt_at: now.toISOString(),
      lease_until: null,
      last_attempt_at: null,
      last_error: null,
      created_at: now.toISOString(),
      sent_at: null,
      failed_at: null,
    });
  }
  return messages.length;
}

async function messagesOf(trx: Knex, s: Services, e: DomainEvent, now: Date): Promise<Queued[]> {
  switch (e.type) {
    case "package.finalized":
    case "package.links_resent": {
      // Finalized with `notify_recipients: false`: the sender shares the links.
      if (e.type === "package.finalized" && e.mail === false) return [];
      const p = (await findPackage(trx, e.pkg.id))!;
      const owner = await findUserById(trx, p.owner_id);
      const files = await listFiles(trx, p.id);
      return e.links.map(({ link, secret }) => ({
        kind: "package_link",
        packageId: p.id,
        linkId: link.id,
        message: packageEmail({
          direction: p.direction,
          senderName: owner?.name ?? "A SpeedyFiles user",
          senderEmail: owner?.email ?? "",
          recipientEmail: link.recipient_email,
          recipientName: link.recipient_name,
          title: p.title,
          message: p.message,
          files,
          link: `${s.config.publicUrl}/l/${secret}`,
          expiresAt: p.expires_at!,
          passwordProtected: p.password_hash !== null,
          maxDownloads: p.max_downloads,
          encryption: p.encryption_scheme,
        }),
      }));
    }
    case "package.completed": {
      const p = await findPackage(trx, e.pkg.id);
      const owner = p && (await findUserById(trx, p.owner_id));
      if (!p || !owner) return [];
      const message = ownerUploadNotice({
        ownerEmail: owner.email,
        ownerName: owner.name,
        uploaderEmail: e.link.recipient_email,
        uploaderName: e.link.recipient_name,
        title: p.title,
        files: await listFiles(trx, p.id),
        packageUrl: `${s.config.publicUrl}/api/v1/packages/${p.id}`,
        encrypted: p.encryption_scheme !== null,
      });
      return [{ kind: "upload_notice", packageId: p.id, linkId: e.link.id, message }];
    }
    case "link.first_download":
    case "link.used_up": {
      const p = await findPackage(trx, e.pkg.id);
      const owner = p && (await findUserById(trx, p.owner_id));
      if (!p || !owner) return [];
      const who = {
        ownerEmail: owner.email,
        ownerName: owner.name,
        recipientEmail: e.link.recipient_email,
        recipientName: e.link.recipient_name,
        title: p.title,
        packageUrl: `${s.config.publicUrl}/packages/${p.id}`,
      };
      return e.type === "link.first_download"
        ? [{ kind: "download_receipt", packageId: p.id, linkId: e.link.id, message: downloadReceipt({ ...who, what: e.what, at: now.toISOString() }) }]
        : [{ kind: "downloads_used_up", packageId: p.id, linkId: e.link.id, message: downloadsUsedUpNotice({ ...who, maxDownloads: p.max_downloads ?? 0, packageId: p.id }) }];
    }
    case "webhook.disabled": {
      const owner = await findUserById(trx, e.hook.owner_id);
      if (!owner) return [];
      const message = webhookDisabledNotice({
        ownerEmail: owner.email,
        ownerName: owner.name,
        url: e.hook.url,
        failingSince: e.failingSince,
        webhookId: e.hook.id,
        publicUrl: s.config.publicUrl,
      });
      return [{ kind: "webhook_disabled", packageId: null, linkId: null, message }];
    }
    case "password_reset.mail": {
      const message = passwordResetEmail({
        email: e.user.email,
        name: e.user.name,
        link: `${s.config.publicUrl}/reset-password#token=${e.secret}`,
        expiresAt: e.expiresAt,
        minutes: s.config.passwordResetMinutes,
        forced: e.forced,
        publicUrl: s.config.publicUrl,
      });
      return [{ kind: "password_reset", packageId: null, linkId: null, message }];
    }
    default:
      return [];
  }
}
