import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // Hashes of links whose package was deleted: they answer 410 Gone, not 404, so a recipient
    // learns the files are gone rather than that they mistyped the link.
    await knex.schema.createTable("dead_links", (t) => {
      t.string("link_hash", 64).primary();
      ts(t, "died_at").notNullable();
    });
  },
  async down(knex) {
    await knex.schema.dropTable("dead_links");
  },
};
