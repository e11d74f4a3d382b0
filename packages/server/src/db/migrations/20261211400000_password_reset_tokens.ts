import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // Password reset links ("forgot password", or forced by an admin): only the SHA-256 of each
    // link's token is kept. A row is deleted when its token is used, replaced by a newer one, or
    // made pointless by a password change; expired rows are deleted by the next request.
    await knex.schema.createTable("password_reset_tokens", (t) => {
      t.uuid("id").primary();
      t.uuid("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
      t.string("token_hash", 64).notNullable().unique();
      /** `requested` (forgot password) or `forced` (an admin's reset). */
      t.string("reason", 16).notNullable();
      ts(t, "created_at").notNullable();
      ts(t, "expires_at").notNullable();
      t.index(["user_id"]);
      t.index(["expires_at"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("password_reset_tokens");
  },
};
