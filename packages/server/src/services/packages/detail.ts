import type { components } from "../../generated/api.js";
import type { PackageWithCounts } from "../../db/packages.js";
import { listFiles } from "../../db/files.js";
import { listEvents, type EventWithRecipient } from "../../db/events.js";
import { listLinks, usedUpFileCounts, listRecipientsOf } from "../../db/links.js";
import { latestLinkMail, type MailRow } from "../../db/mail-outbox.js";
import { toFileView, toLinkView, toPackageView } from "../views.js";
import type { Principal, Services } from "../context.js";
import { ownedPackage } from "./owned.js";

type Schemas = components["schemas"];

export type PackageDetail = Schemas["PackageDetail"];

export async function packageDetail(s: Services, p: PackageWithCounts): Promise<PackageDetail> {
  const now = s.clock();
  const links = p.finalized_at === null ? [] : await listLinks(s.db, p.id);
  const usedUp = p.max_downloads !== null && p.file_count > 0 && links.length > 0 ? await usedUpFileCounts(s.db, p.id, p.max_downloads) : new Map<string, number>();
  const mail = links.length > 0 ? await latestLinkMail(s.db, p.id) : new Map<string, MailRow>();
  return {
    ...toPackageView(p, now),
    files: (await listFiles(s.db, p.id)).map(toFileView),
    links: links.map((l) => toLinkView(l, p, now, (usedUp.get(l.id) ?? 0) >= p.file_count && p.max_downloads !== null, mail.get(l.id))),
  };
}

/** `GET /packages/{id}`. */
export async function getPackage(s: Services, user: Principal, id: string): Promise<PackageDetail> {
  return packageDetail(s, await ownedPackage(s, user, id, "package.read"));
}

/** A package's recipient as the pages write them. */
export interface Recipient {
  email: string;
  name: string | null;
}

/**
 * Every recipient of these packages of the caller (a draft's too, whose links hold no secret
 * yet), by package id, in the order given. Packages that are not the caller's have none here.
 */
export async function packageRecipients(s: Services, user: Principal, packages: { id: string }[]): Promise<Map<string, Recipient[]>> {
  const out = new Map<string, Recipient[]>();
  for (const r of await listRecipientsOf(
    s.db,
    user.userId,
    packages.map((p) => p.id),
  )) {
    const list = out.get(r.package_id) ?? [];
    list.push({ email: r.recipient_email, name: r.recipient_name });
    out.set(r.package_id, list);
  }
  return out;
}

/** A package's events as the API shows them. */
export function toPackageEvent(e: EventWithRecipient): Schemas["PackageEvent"] {
  return {
    id: e.id,
    type: e.type,
    file_id: e.file_id,
    file_name: e.file_name,
    client_address: e.client_address,
    user_agent: e.user_agent,
    created_at: e.created_at,
    link_id: e.link_id,
    recipient_email: e.recipient_email,
    cursor: String(e.seq),
  };
}

/** A package's whole audit trail, newest first (the package page; the API's is services/event-feed.ts). */
export async function listPackageEvents(s: Services, user: Principal, id: string): Promise<Schemas["PackageEvent"][]> {
  await ownedPackage(s, user, id, "package.read");
  return (await listEvents(s.db, id)).map(toPackageEvent);
}
