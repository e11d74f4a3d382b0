import type { Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // How a name compares on a recipient's disk (see nameKey in util/name-key.ts): two files whose
    // keys are equal, or where one key is a folder of the other, cannot both be extracted.
    await knex.schema.alterTable("files", (t) => {
      t.string("name_key", 1024);
    });
    const rows = (await knex("files").select("id", "name")) as { id: string; name: string }[];
    for (const r of rows)
      await knex("files")
        .where({ id: r.id })
        .update({ name_key: r.name.normalize("NFC").toLowerCase() });
    await knex.schema.alterTable("files", (t) => {
      t.index(["package_id", "name_key"]);
    });
  },
  async down(knex) {
    await knex.schema.alterTable("files", (t) => {
      t.dropIndex(["package_id", "name_key"]);
      t.dropColumn("name_key");
    });
  },
};
