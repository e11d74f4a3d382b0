import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    await knex.schema.createTable("packages", (t) => {
      t.uuid("id").primary();
      t.uuid("owner_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
      t.string("title", 200).notNullable();
      t.string("recipient_email", 254).notNullable();
      t.string("recipient_name", 200);
      t.string("direction", 16).notNullable();
      t.string("status", 16).notNullable();
      t.integer("ttl_days").notNullable();
      t.text("message");
      t.string("link_hash", 64).unique(); // hex SHA-256 of the magic-link secret
      ts(t, "created_at").notNullable();
      ts(t, "finalized_at");
      ts(t, "expires_at");
      ts(t, "revoked_at");
      t.index(["owner_id", "created_at"]);
      t.index(["status", "expires_at"]);
    });
    await knex.schema.createTable("files", (t) => {
      t.uuid("id").primary();
      t.uuid("package_id").notNullable().references("id").inTable("packages").onDelete("CASCADE");
      t.string("name", 1024).notNullable();
      t.bigInteger("size").notNullable();
      t.string("sha256", 64).notNullable();
      t.string("content_type", 255).notNullable();
      t.string("storage_key", 100).notNullable();
      ts(t, "created_at").notNullable();
      t.index(["package_id", "created_at"]);
      // One name once per package: a recipient's zip or download folder can hold every file.
      t.unique(["package_id", "name"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("files");
    await knex.schema.dropTable("packages");
  },
};
