import type { Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // A JSON array of the scopes a token is limited to; null: every scope its user's role allows.
    await knex.schema.alterTable("api_tokens", (t) => {
      t.text("scopes");
    });
  },
  async down(knex) {
    await knex.schema.alterTable("api_tokens", (t) => {
      t.dropColumn("scopes");
    });
  },
};
