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
  /** Its number among its package's events (1, 2, …): the events list's cursor. */
  seq: number;
}

export interface EventWithRecipient extends EventRow {
  recipient_email: string | null;
}

/**
 * Records an event under the next number of its package. The counter's update locks the package's
 * row until the transaction ends, so the package's events become visible in their numbers' order
 * (a reader past number n never misses one below it committed later).
 */
export async function insertEvent(db: Knex, event: Omit<EventRow, "seq">): Promise<void> {
  await db("packages").where({ id: event.package_id }).increment("event_seq", 1);
  const counter = (await db("packages").where({ id: event.package_id }).first("event_seq")) as { event_seq: number | string } | undefined;
  const row: EventRow = { ...event, seq: Number(counter?.event_seq ?? 1) };
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
      // Events of one instant in the order they were recorded.
      { column: "e.seq", order: "desc" },
      { column: "e.id", order: "desc" },
    ]) as Promise<EventWithRecipient[]>;
}

/** The events of a package numbered above `afterSeq`, newest first. */
/** The largest event number the `seq` column holds (a cursor past it has nothing after it). */
const MAX_SEQ = 2_147_483_647;

export async function listEventsAfter(db: Knex, packageId: string, afterSeq: number): Promise<EventWithRecipient[]> {
  return (
    db("package_events as e")
      .leftJoin("package_links as l", "l.id", "e.link_id")
      .where("e.package_id", packageId)
      // `seq` is a 32-bit integer column: PostgreSQL refuses a larger number in the comparison,
      // and no event is numbered past it anyway.
      .where("e.seq", ">", Math.min(afterSeq, MAX_SEQ))
      .select("e.*", "l.recipient_email")
      .orderBy("e.seq", "desc") as Promise<EventWithRecipient[]>
  );
}
