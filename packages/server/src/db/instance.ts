import crypto from "node:crypto";
import type { Knex } from "knex";

/**
 * The id naming this database (`instance_meta.instance_id`, made by its migration; made here if
 * the row went missing). The blob store's marker holds it (services/orphan-blobs.ts).
 */
export async function instanceId(db: Knex): Promise<string> {
  const read = async () => (await db("instance_meta").where({ name: "instance_id" }).first<{ value: string } | undefined>("value"))?.value;
  const found = await read();
  if (found) return found;
  await db("instance_meta").insert({ name: "instance_id", value: crypto.randomUUID() }).onConflict("name").ignore();
  const made = await read();
  if (!made) throw new Error("could not record this database's instance id");
  return made;
}
