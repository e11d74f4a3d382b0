import type { Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // The sweeper asks which of a batch of stored blobs some file refers to (orphaned blobs), and
    // `storage migrate` walks files in storage-key order: both by this index, not a table scan.
    await knex.schema.alterTable("files", (t) => {
      t.index(["storage_key"], "files_storage_key_index");
    });
  },
  async down(knex) {
    await knex.schema.alterTable("files", (t) => {
      t.dropIndex(["storage_key"], "files_storage_key_index");
    });
  },
};
