import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    await knex.schema.createTable("webhooks", (t) => {
      t.uuid("id").primary();
      t.uuid("owner_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
      t.string("url", 2000).notNullable();
      t.text("events").notNullable(); // JSON array of event types
      t.string("description", 200);
      t.string("secret", 60).notNullable();
      t.boolean("enabled").notNullable().defaultTo(true);
      t.string("disabled_reason", 300);
      ts(t, "failing_since");
      ts(t, "created_at").notNullable();
      ts(t, "updated_at").notNullable();
      t.index(["owner_id"]);
    });
    // The outbox: an event is written in the transaction of the change that caused it, with one
    // delivery per subscribed webhook; the worker sends them (webhooks/worker.ts).
    await knex.schema.createTable("webhook_events", (t) => {
      t.bigIncrements("seq").primary();
      t.uuid("id").notNullable().unique();
      t.uuid("owner_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
      t.uuid("package_id"); // no foreign key: a package.deleted event outlives its package
      t.string("type", 32).notNullable();
      t.text("payload").notNullable();
      ts(t, "created_at").notNullable();
    });
    await knex.schema.createTable("webhook_deliveries", (t) => {
      t.uuid("id").primary();
      t.uuid("webhook_id").notNullable().references("id").inTable("webhooks").onDelete("CASCADE");
      t.bigInteger("event_seq").notNullable().references("seq").inTable("webhook_events").onDelete("CASCADE");
      t.uuid("package_id");
      t.string("state", 16).notNullable();
      t.integer("attempts").notNullable().defaultTo(0);
      ts(t, "next_attempt_at");
      ts(t, "lease_until");
      t.integer("last_status_code");
      t.integer("last_duration_ms");
      t.string("last_error", 500);
      t.text("response_excerpt");
      ts(t, "created_at").notNullable();
      ts(t, "delivered_at");
      t.uuid("redelivery_of");
      t.index(["state", "next_attempt_at"]);
      t.index(["webhook_id", "created_at"]);
      t.index(["webhook_id", "package_id", "event_seq"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("webhook_deliveries");
    await knex.schema.dropTable("webhook_events");
    await knex.schema.dropTable("webhooks");
  },
};
