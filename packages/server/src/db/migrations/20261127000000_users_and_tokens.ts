import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    await knex.schema.createTable("users", (t) => {
      t.uuid("id").primary();
      t.string("email", 254).notNullable().unique(); // stored lower-cased
      t.string("name", 200).notNullable();
      t.string("role", 16).notNullable().defaultTo("user");
      t.string("password_hash", 255).notNullable();
      t.boolean("disabled").notNullable().defaultTo(false);
      ts(t, "created_at").notNullable();
      ts(t, "updated_at").notNullable();
    });
    await knex.schema.createTable("api_tokens", (t) => {
      t.uuid("id").primary();
      t.uuid("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
      t.string("name", 100).notNullable();
      t.string("prefix", 11).notNullable();
      t.string("token_hash", 64).notNullable().unique(); // hex SHA-256 of the raw token
      ts(t, "created_at").notNullable();
      ts(t, "expires_at");
      ts(t, "last_used_at");
      ts(t, "revoked_at");
      t.index(["user_id"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("api_tokens");
    await knex.schema.dropTable("users");
  },
};
