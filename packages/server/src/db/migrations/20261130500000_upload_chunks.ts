import type { Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // With SF_STORAGE=s3, an unfinished resumable upload's bytes are objects
    // `<prefix>tus/<upload id>/<offset>` (storage/upload-store.ts): one row per object, written
    // once the object is complete. The upload's offset is the sum of its rows' sizes.
    await knex.schema.createTable("upload_chunks", (t) => {
      t.uuid("upload_id").notNullable().references("id").inTable("uploads").onDelete("CASCADE");
      t.bigInteger("offset").notNullable();
      t.bigInteger("size").notNullable();
      t.primary(["upload_id", "offset"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("upload_chunks");
  },
};
