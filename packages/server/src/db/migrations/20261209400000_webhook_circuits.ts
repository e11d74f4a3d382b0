import { ts, type Migration } from "./migration.js";

/** The origin (scheme, host and port) of a webhook URL, as `new URL(url).origin` writes it. */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

export const migration: Migration = {
  async up(knex) {
    // A circuit breaker per receiver origin: failed attempts in a row, how often it opened, and
    // until when deliveries to that origin wait (webhooks/circuit.ts).
    await knex.schema.createTable("webhook_circuits", (t) => {
      t.string("origin", 2000).primary();
      t.integer("failures").notNullable().defaultTo(0);
      t.integer("trips").notNullable().defaultTo(0);
      ts(t, "open_until");
    });
    await knex.schema.alterTable("webhooks", (t) => {
      t.string("origin", 2000);
    });
    for (const { id, url } of (await knex("webhooks").select("id", "url")) as { id: string; url: string }[]) {
      await knex("webhooks")
        .where({ id })
        .update({ origin: originOf(url) });
    }
    await knex.schema.alterTable("webhooks", (t) => {
      t.index(["origin"]);
    });
  },
  async down(knex) {
    await knex.schema.alterTable("webhooks", (t) => {
      t.dropIndex(["origin"]);
      t.dropColumn("origin");
    });
    await knex.schema.dropTable("webhook_circuits");
  },
};
