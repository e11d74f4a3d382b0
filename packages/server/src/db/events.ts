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
}

export async function insertEvent(db: Knex, row: EventRow): Promise<void> {
  await db("package_events").insert(row);
  if (row.type === "file_download" || row.type === "archive_download") {
    await db("packages").where({ id: row.package_id }).increment("download_count", 1);
  }
}

/** A package's audit trail, newest first. */
export async function listEvents(db: Knex, packageId: string): Promise<EventRow[]> {
  return db<EventRow>("package_events")
    .where({ package_id: packageId })
    .orderBy([
      { column: "created_at", order: "desc" },
      { column: "id", order: "desc" },
    ]);
}
