import crypto from "node:crypto";
import type { Knex } from "knex";
import { insertEvent, type EventType } from "../db/events.js";
import type { DomainEvent } from "./types.js";
import { notifyPackageEvent } from "./waiters.js";

/**
 * The owner's audit trail (`GET /packages/{id}/events`): a line for what happened through a
 * recipient's link (downloads, uploads, completions). A download line also counts the download
 * on the package.
 */
export async function recordAudit(trx: Knex, e: DomainEvent, now: string): Promise<void> {
  let type: EventType;
  let file: { id: string; name: string } | undefined;
  switch (e.type) {
    case "package.downloaded":
      type = e.file ? "file_download" : "archive_download";
      file = e.file;
      break;
    case "package.uploaded":
      type = "upload";
      file = e.file;
      break;
    case "package.completed":
      type = "complete";
      break;
    default:
      return;
  }
  await insertEvent(trx, {
    id: crypto.randomUUID(),
    package_id: e.pkg.id,
    type,
    file_id: file?.id ?? null,
    file_name: file?.name ?? null,
    client_address: e.client.address?.slice(0, 64) ?? null,
    user_agent: e.client.userAgent?.slice(0, 300) ?? null,
    created_at: now,
    link_id: e.link.id,
  });
  // Long-polls of this process learn of it once their query can see it: after the commit.
  const committed = trx.isTransaction ? (trx as Knex.Transaction).executionPromise : Promise.resolve();
  committed.then(
    () => notifyPackageEvent(e.pkg.id),
    () => undefined,
  );
}
