import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // Resumable (tus) uploads: the tus store holds the bytes; this row holds what the package's
    // rules need before the last byte (limits, names, finalize, expiry, deletion) and, once the
    // file is in, its id (so a client that lost the last answer learns it on its next HEAD).
    await knex.schema.createTable("uploads", (t) => {
      t.uuid("id").primary();
      t.uuid("package_id").notNullable().references("id").inTable("packages").onDelete("CASCADE");
      t.string("name", 1024).notNullable();
      t.string("name_key", 1024).notNullable();
      t.bigInteger("size").notNullable();
      t.bigInteger("received").notNullable().defaultTo(0); // the offset, cached; the store's offset is the truth
      t.string("sha256", 64); // expected, from Upload-Metadata
      t.string("content_type", 255).notNullable();
      t.string("via", 8).notNullable(); // owner | link
      t.uuid("file_id"); // set once the file is in the package
      ts(t, "created_at").notNullable();
      ts(t, "expires_at").notNullable();
      ts(t, "completed_at");
      t.string("locked_by", 64); // the lease of the process writing to it (multi-process lock)
      ts(t, "lock_expires_at");
      t.index(["package_id"]);
      t.index(["expires_at"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("uploads");
  },
};
