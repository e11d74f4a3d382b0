import type { Knex } from "knex";

export type EventType = "file_download" | "archive_download" | "upload" | "complete";

export interface EventRow {
  id: string;
  package_id: string;
  type: EventType;
  file_id: string | null;
  file_name: string | null;
  client_address: string | null;
  user_agent: string | null;
  created_at: string;
  /** The recipient's link it happened through (null before per-recipient links, and for the owner). */
  link_id: string | null;
}

export interface EventWithRecipient extends EventRow {
  recipient_email: string | null;
}

export async function insertEvent(db: Knex, row: EventRow): Promise<void> {
  await db("package_events").insert(row);
  if (row.type === "file_download" || row.type === "archive_download") {
    await db("packages").where({ id: row.package_id }).increment("download_count", 1);
  }
}

/** A package's audit trail, newest first, with the recipient of the link of each event. */
export async function listEvents(db: Knex, packageId: string): Promise<EventWithRecipient[]> {
  return db("package_events as e")
    .leftJoin("package_links as l", "l.id", "e.link_id")
    .where("e.package_id", packageId)
    .select("e.*", "l.recipient_email")
    .orderBy([
      { column: "e.created_at", order: "desc" },
      { column: "e.id", order: "desc" },
    ]) as Promise<EventWithRecipient[]>;
}
