import type { Migration } from "./migration.js";

export const migration: Migration = {
  // express-rate-limit's counters, shared by every server process (http/rate-limit-store.ts).
  async up(knex) {
    await knex.schema.createTable("rate_limits", (t) => {
      t.string("key", 64).primary(); // hex SHA-256 of limiter prefix and client key
      t.integer("hits").notNullable();
      t.bigInteger("reset_at").notNullable(); // ms since the epoch
      t.index(["reset_at"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("rate_limits");
  },
};
