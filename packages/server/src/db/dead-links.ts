import type { Knex } from "knex";

/**
 * Hashes of links whose package was deleted: they answer 410 Gone, not 404, so a recipient learns
 * the files are gone rather than that they mistyped the link.
 */
export async function insertDeadLink(db: Knex, linkHash: string, diedAt: string, reason: "deleted" | "replaced" = "deleted"): Promise<void> {
  await db("dead_links").insert({ link_hash: linkHash, died_at: diedAt, reason });
}

/** Why a link died (its package deleted, or a newer link sent by resend); undefined if it never lived. */
export async function deadLinkReason(db: Knex, linkHash: string): Promise<"deleted" | "replaced" | undefined> {
  const row = (await db("dead_links").where({ link_hash: linkHash }).first("reason")) as { reason: string } | undefined;
  return row ? (row.reason === "replaced" ? "replaced" : "deleted") : undefined;
}
