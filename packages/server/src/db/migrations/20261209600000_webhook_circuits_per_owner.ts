import type { Knex } from "knex";
import { ts, type Migration } from "./migration.js";

/** The table as 20261209400000 made it: one circuit per receiver origin. */
async function createPerOrigin(knex: Knex): Promise<void> {
  await knex.schema.createTable("webhook_circuits", (t) => {
    t.string("origin", 2000).primary();
    t.integer("failures").notNullable().defaultTo(0);
    t.integer("trips").notNullable().defaultTo(0);
    ts(t, "open_until");
  });
}

export const migration: Migration = {
  async up(knex) {
    // A circuit per owner and receiver origin, so one user's failing receiver pauses only that
    // user's deliveries; `probe_until` is the lease of the one delivery let through after a
    // cool-off (half-open). The circuits' state is short-lived: they start closed again.
    await knex.schema.dropTable("webhook_circuits");
    await knex.schema.createTable("webhook_circuits", (t) => {
      t.uuid("owner_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
      t.string("origin", 2000).notNullable();
      t.integer("failures").notNullable().defaultTo(0);
      t.integer("trips").notNullable().defaultTo(0);
      ts(t, "open_until");
      ts(t, "probe_until");
      t.primary(["owner_id", "origin"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("webhook_circuits");
    await createPerOrigin(knex);
  },
};
