import type { Knex } from "knex";
import type { components } from "../../generated/api.js";
import { Conflict } from "../../errors.js";
import { lockPackage, markCompleted, type PackageRow } from "../../db/packages.js";
import { packageUsage } from "../../db/files.js";
import type { FileView } from "../packages.js";
import { addFile, multipartTarget, type UploadTarget } from "../files.js";
import { rulesForUser } from "../policy.js";
import { nowIso, type Client, type Services } from "../context.js";
import { emit } from "../../events/emit.js";
import { type LiveLink, liveLink } from "./access.js";
import { linkView } from "./view.js";

type Schemas = components["schemas"];

export const acceptsRecipientFiles = (clock: () => Date) => (p: { status: string; direction: string; expires_at: string | null }) =>
  p.status === "active" && p.direction === "inbound" && p.expires_at !== null && p.expires_at > clock().toISOString();

/** `POST /links/{link}/files`: the recipient of an inbound link adds a file (to the owner's quota). */
export async function uploadLinkFile(s: Services, secret: string, client: Client): Promise<UploadTarget> {
  const l = await liveLink(s, secret);
  const p = l.pkg;
  if (p.direction !== "inbound") throw new Conflict("link_not_inbound", "This link is for downloading; it does not take uploads");
  // What arrives through the link counts against the owner's policy and quota.
  const owner = { id: p.owner_id, rules: await rulesForUser(s, p.owner_id) };
  return multipartTarget(s, p, owner, "link", (received, reservationId) =>
    addFile(s, p.id, received, acceptsRecipientFiles(s.clock), (trx, pkg, file) => recordUploadThroughLink(trx, s, l, pkg, file, client), reservationId),
  );
}

/** What a file arriving through an inbound link leaves behind, in its transaction: audit and the `package.uploaded` webhook. */
export async function recordUploadThroughLink(trx: Knex, s: Services, l: LiveLink, pkg: PackageRow, file: FileView, client: Client): Promise<void> {
  await emit(trx, s, { type: "package.uploaded", pkg, link: l.link, file, client });
}

/**
 * `POST /links/{link}/complete`: the recipient says they are done. The owner is emailed the list
 * of files only when some arrived since the last completion, so pressing "done" again (or a
 * script calling it in a loop) sends nothing more.
 */
export async function completeLink(s: Services, secret: string, client: Client): Promise<Schemas["LinkCompletion"]> {
  const l = await liveLink(s, secret);
  const p = l.pkg;
  if (p.direction !== "inbound") throw new Conflict("link_not_inbound", "Only an upload link can be completed");
  const now = nowIso(s.clock);
  const newFiles = await s.db.transaction(async (trx) => {
    const locked = await lockPackage(trx, p.id);
    const { count } = await packageUsage(trx, p.id);
    const fresh = count - (locked?.completed_file_count ?? 0);
    if (fresh > 0) {
      await markCompleted(trx, p.id, now, count);
      // The audit line, the `package.completed` webhook and the owner's notice.
      await emit(trx, s, { type: "package.completed", pkg: p, link: l.link, client });
    }
    return fresh;
  });
  // The notice is queued with the completion (sent by the mail worker, with retries).
  const email_sent = newFiles > 0;
  const email_error: string | null = null;
  const view = await linkView(s, { ...l, pkg: { ...p, completed_at: newFiles > 0 ? now : p.completed_at } }, new Set());
  return { ...view, new_files: newFiles, email_sent, email_error };
}
