import type { Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // Each package numbers its events (1, 2, …) from a counter on its row: the row's lock orders
    // concurrent writers, so a later number is never visible before an earlier one of the same
    // package. `after=<seq>` on the events list is a cursor on that number.
    await knex.schema.alterTable("packages", (t) => {
      t.integer("event_seq").notNullable().defaultTo(0);
    });
    await knex.schema.alterTable("package_events", (t) => {
      t.integer("seq");
    });
    await knex.raw(
      `update package_events set seq = (select count(*) from package_events e where e.package_id = package_events.package_id
         and (e.created_at < package_events.created_at or (e.created_at = package_events.created_at and e.id <= package_events.id)))`,
    );
    await knex.raw("update packages set event_seq = (select coalesce(max(e.seq), 0) from package_events e where e.package_id = packages.id)");
    await knex.schema.alterTable("package_events", (t) => {
      t.index(["package_id", "seq"], "package_events_package_seq_index");
    });
  },
  async down(knex) {
    await knex.schema.alterTable("package_events", (t) => {
      t.dropIndex(["package_id", "seq"], "package_events_package_seq_index");
      t.dropColumn("seq");
    });
    await knex.schema.alterTable("packages", (t) => {
      t.dropColumn("event_seq");
    });
  },
};
