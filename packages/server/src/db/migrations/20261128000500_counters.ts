import type { Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // Counts kept up to date by the writes that change them (db/files.ts, db/events.ts,
    // db/packages.ts), instead of counted at every read: a list of packages no longer sums the
    // files of each package it shows, and a user's list knows its length without counting.
    await knex.schema.alterTable("packages", (t) => {
      t.integer("file_count").notNullable().defaultTo(0);
      t.bigInteger("total_size").notNullable().defaultTo(0);
      t.integer("download_count").notNullable().defaultTo(0);
    });
    await knex.schema.alterTable("users", (t) => {
      t.integer("package_count").notNullable().defaultTo(0);
    });
    await knex.raw(
      "update packages set file_count = (select count(*) from files f where f.package_id = packages.id), " +
        "total_size = (select coalesce(sum(f.size), 0) from files f where f.package_id = packages.id), " +
        "download_count = (select count(*) from package_events e where e.package_id = packages.id and e.type in ('file_download', 'archive_download'))",
    );
    await knex.raw("update users set package_count = (select count(*) from packages p where p.owner_id = users.id)");
  },
  async down(knex) {
    await knex.schema.alterTable("users", (t) => {
      t.dropColumn("package_count");
    });
    await knex.schema.alterTable("packages", (t) => {
      t.dropColumn("file_count");
      t.dropColumn("total_size");
      t.dropColumn("download_count");
    });
  },
};
