import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    await knex.schema.alterTable("packages", (t) => {
      ts(t, "completed_at"); // inbound: the recipient last said "done"
      ts(t, "purged_at"); // the sweeper deleted the stored bytes
    });
    await knex.schema.createTable("package_events", (t) => {
      t.uuid("id").primary();
      t.uuid("package_id").notNullable().references("id").inTable("packages").onDelete("CASCADE");
      t.string("type", 32).notNullable();
      t.uuid("file_id");
      t.string("file_name", 1024);
      t.string("client_address", 64);
      t.string("user_agent", 300);
      ts(t, "created_at").notNullable();
      t.index(["package_id", "created_at"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("package_events");
    await knex.schema.alterTable("packages", (t) => {
      t.dropColumn("completed_at");
      t.dropColumn("purged_at");
    });
  },
};
