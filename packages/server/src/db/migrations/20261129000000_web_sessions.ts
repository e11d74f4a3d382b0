import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // Browser sessions of the web interface. As with API tokens, only the SHA-256 of the
    // cookie's secret is stored: a copy of the database signs nobody in.
    await knex.schema.createTable("web_sessions", (t) => {
      t.uuid("id").primary();
      t.uuid("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
      t.string("secret_hash", 64).notNullable().unique();
      ts(t, "created_at").notNullable();
      ts(t, "last_seen_at").notNullable(); // idle expiry counts from here
      ts(t, "expires_at").notNullable(); // absolute expiry
      ts(t, "revoked_at");
      t.string("client_address", 64);
      t.string("user_agent", 300);
      t.index(["user_id"]);
      t.index(["expires_at"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("web_sessions");
  },
};
