import type { LinkRow } from "../db/links.js";
import type { WebhookRow } from "../db/webhooks.js";
import type { Client } from "../services/context.js";
import type { FileView } from "../services/views.js";

/** The package an event is about (the rest is read in the event's transaction when needed). */
export interface PackageRef {
  id: string;
  owner_id: string;
}

/** A recipient's link with the secret just minted for it (only in the transaction that minted it). */
export interface MintedLink {
  link: LinkRow;
  secret: string;
}

/** The recipient link through which something happened. */
export type LinkRef = Pick<LinkRow, "id" | "recipient_email" | "recipient_name">;

/**
 * Everything that happens and that someone is told about: the owner's audit trail
 * (`package_events`), the instance's (`audit_events`), the webhook outbox and the mail outbox are
 * fed from these, by `emit` (events/emit.ts) in the transaction of the change.
 */
export type DomainEvent =
  | { type: "package.created" | "package.revoked" | "package.deleted" | "package.expired"; pkg: PackageRef }
  /** Links minted at finalize: the `package.finalized` webhook and each recipient's email (none with `mail: false`). */
  | { type: "package.finalized"; pkg: PackageRef; links: MintedLink[]; mail?: boolean }
  /** New links minted by a resend: each recipient's email (no webhook event, as before). */
  | { type: "package.links_resent"; pkg: PackageRef; links: MintedLink[] }
  /** A complete download through a link (a file, or the zip when `file` is absent). */
  | { type: "package.downloaded"; pkg: PackageRef; link: LinkRef; file?: FileView; client: Client }
  /** A file arrived through an inbound link. */
  | { type: "package.uploaded"; pkg: PackageRef; link: LinkRef; file: FileView; client: Client }
  /** The recipient of an inbound link said they are done, with new files: the owner is told. */
  | { type: "package.completed"; pkg: PackageRef; link: LinkRef; client: Client }
  /** The owner revoked one recipient's link (the others stay live). */
  | { type: "link.revoked"; pkg: PackageRef; link: LinkRef }
  /** A recipient's first complete download (`what` says of what): the owner's receipt. */
  | { type: "link.first_download"; pkg: PackageRef; link: LinkRef; what: string }
  /** Every file reached max_downloads through this link: the owner is told. */
  | { type: "link.used_up"; pkg: PackageRef; link: LinkRef }
  /** `POST /webhooks/{id}/test`: a ping to this webhook only. */
  | { type: "webhook.ping"; hook: WebhookRow }
  /** A webhook was disabled after failing for too long: its owner is told. */
  | { type: "webhook.disabled"; hook: WebhookRow; failingSince: string }
  /** A password reset link was made (asked for, or forced by an admin): its user is emailed it. */
  | { type: "password_reset.mail"; user: { email: string; name: string }; secret: string; expiresAt: string; forced: boolean };

/** What emit did that the caller may need (the ping's delivery). */
export interface Emitted {
  webhookDeliveryIds: string[];
}
