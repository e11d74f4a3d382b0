import type { Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // End-to-end encryption: the server keeps what the client sealed (age files, base64) as
    // given and never reads it. An upload keeps its file's sealed entry until its last byte.
    await knex.schema.alterTable("packages", (t) => {
      t.string("encryption_scheme", 16);
      t.string("encryption_recipient", 100);
      t.text("sealed_message");
    });
    await knex.schema.alterTable("files", (t) => {
      t.text("sealed");
    });
    await knex.schema.alterTable("uploads", (t) => {
      t.text("sealed");
    });
  },
  async down(knex) {
    await knex.schema.alterTable("uploads", (t) => {
      t.dropColumn("sealed");
    });
    await knex.schema.alterTable("files", (t) => {
      t.dropColumn("sealed");
    });
    await knex.schema.alterTable("packages", (t) => {
      t.dropColumn("encryption_scheme");
      t.dropColumn("encryption_recipient");
      t.dropColumn("sealed_message");
    });
  },
};
