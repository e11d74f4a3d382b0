import type { Knex } from "knex";

/** One message a page shows once after a redirect, sealed under its session's key. */
export interface FlashRow {
  id: string;
  session_id: string;
  kind: string;
  sealed: string;
  created_at: string;
}

export async function insertFlash(db: Knex, row: FlashRow): Promise<void> {
  await db("web_session_flashes").insert(row);
}

/**
 * Takes (reads and deletes) a session's flashes of one kind, oldest first. A row counts as taken
 * only by the request whose DELETE removed it, so two requests at once (two processes, a double
 * reload) never both show the same secret.
 */
export async function takeFlashRows(db: Knex, sessionId: string, kind: string): Promise<FlashRow[]> {
  const rows = (await db<FlashRow>("web_session_flashes")
    .where({ session_id: sessionId, kind })
    .orderBy([
      { column: "created_at", order: "asc" },
      { column: "id", order: "asc" },
    ])
    .select("id", "session_id", "kind", "sealed", "created_at")) as FlashRow[];
  const taken: FlashRow[] = [];
  for (const r of rows) {
    if ((await db("web_session_flashes").where({ id: r.id }).delete()) > 0) taken.push(r);
  }
  return taken;
}

/** Deletes flashes written before `before` that nobody came to see. */
export async function deleteOldFlashes(db: Knex, before: string): Promise<number> {
  return db("web_session_flashes").where("created_at", "<", before).delete();
}
