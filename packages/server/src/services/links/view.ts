import type { components } from "../../generated/api.js";
import { Gone } from "../../errors.js";
import { listFiles } from "../../db/files.js";
import { fileDownloadCounts } from "../../db/links.js";
import { findUserById } from "../../db/users.js";
import { encryptionOf, toFileView } from "../packages.js";
import type { Services } from "../context.js";
import { type LiveLink, type LinkAccess, openLink } from "./access.js";

type Schemas = components["schemas"];

export type LinkView = Schemas["LinkView"];

/** Files of this link that reached max_downloads (empty without a limit). */
export async function usedUpFiles(s: Services, l: LiveLink): Promise<Set<string>> {
  const max = l.pkg.max_downloads;
  if (max === null) return new Set();
  const counts = await fileDownloadCounts(s.db, l.link.id);
  return new Set([...counts].filter(([, n]) => n >= max).map(([id]) => id));
}

export const limitReached = () => new Gone("download_limit_reached", "Every file was downloaded as many times as the sender allowed through this link");

export async function linkView(s: Services, l: LiveLink, usedUp: Set<string>): Promise<LinkView> {
  const p = l.pkg;
  const owner = await findUserById(s.db, p.owner_id);
  return {
    title: p.title,
    message: p.message,
    direction: p.direction,
    sender_name: owner?.name ?? "",
    sender_email: owner?.email ?? "",
    recipient_name: l.link.recipient_name,
    expires_at: p.expires_at!,
    completed_at: p.completed_at,
    file_count: p.file_count,
    total_size: p.total_size,
    files: (await listFiles(s.db, p.id)).map(toFileView),
    max_downloads: p.max_downloads,
    encryption: encryptionOf(p),
    sealed_message: p.sealed_message,
    used_up_file_ids: [...usedUp],
  };
}

/**
 * `GET /links/{link}`: what the link gives access to (also the recipient's HTML page). Never
 * counts as a download: mail scanners that open links use nothing up.
 */
export async function getLink(s: Services, secret: string, access: LinkAccess = {}): Promise<LinkView> {
  const l = await openLink(s, secret, access);
  return viewOf(s, l);
}

/** The view of an opened link; 410 `download_limit_reached` when every file is used up. */
export async function viewOf(s: Services, l: LiveLink): Promise<LinkView> {
  const usedUp = await usedUpFiles(s, l);
  if (l.pkg.file_count > 0 && usedUp.size >= l.pkg.file_count) throw limitReached();
  return linkView(s, l, usedUp);
}
