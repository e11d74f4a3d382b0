import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // Answers kept for safe retries of POST /packages and /finalize (see services/idempotency.ts).
    await knex.schema.createTable("idempotency_keys", (t) => {
      t.uuid("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
      t.string("key_hash", 64).notNullable(); // hex SHA-256 of the client's key
      t.string("operation", 64).notNullable();
      t.string("fingerprint", 64).notNullable(); // hex SHA-256 of the request (path and body)
      t.string("state", 16).notNullable(); // pending | done
      t.integer("status");
      t.text("response"); // AES-256-GCM, with a key derived from the client's key
      ts(t, "created_at").notNullable();
      t.primary(["user_id", "key_hash"]);
      t.index(["created_at"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("idempotency_keys");
  },
};
