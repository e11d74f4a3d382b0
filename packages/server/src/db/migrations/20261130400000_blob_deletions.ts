import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // Stored bytes to delete: written with the rows' deletion, removed once the store confirms.
    await knex.schema.createTable("blob_deletions", (t) => {
      t.string("key", 100).primary(); // the storage key (the object under SF_S3_PREFIX, or the file)
      t.integer("attempts").notNullable().defaultTo(0);
      ts(t, "next_at").notNullable();
      ts(t, "created_at").notNullable();
      t.index(["next_at"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("blob_deletions");
  },
};
