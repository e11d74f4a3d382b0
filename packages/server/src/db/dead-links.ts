import type { Knex } from "knex";

/**
 * Hashes of links whose package was deleted: they answer 410 Gone, not 404, so a recipient learns
 * the files are gone rather than that they mistyped the link.
 */
export async function insertDeadLink(db: Knex, linkHash: string, diedAt: string): Promise<void> {
  await db("dead_links").insert({ link_hash: linkHash, died_at: diedAt });
}

export async function isDeadLink(db: Knex, linkHash: string): Promise<boolean> {
  return (await db("dead_links").where({ link_hash: linkHash }).first("link_hash")) !== undefined;
}
