import type { Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // The owner is told of an inbound link's "done" only when files arrived since the last one.
    await knex.schema.alterTable("packages", (t) => {
      t.integer("completed_file_count").notNullable().defaultTo(0);
    });
  },
  async down(knex) {
    await knex.schema.alterTable("packages", (t) => {
      t.dropColumn("completed_file_count");
    });
  },
};
