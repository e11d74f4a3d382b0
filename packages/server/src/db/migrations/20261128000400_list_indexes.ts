import type { Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // The list of a user's packages is ordered by (created_at, id): with id in the index the
    // database walks it in order instead of sorting every package of the user.
    await knex.schema.alterTable("packages", (t) => {
      t.index(["owner_id", "created_at", "id"], "packages_owner_created_id_index");
    });
    await knex.schema.alterTable("packages", (t) => {
      t.dropIndex(["owner_id", "created_at"]);
    });
    // A package's files in their zip/list order, and its audit events by type (download counts).
    await knex.schema.alterTable("files", (t) => {
      t.index(["package_id", "created_at", "name", "id"], "files_package_order_index");
    });
    await knex.schema.alterTable("files", (t) => {
      t.dropIndex(["package_id", "created_at"]);
    });
    await knex.schema.alterTable("package_events", (t) => {
      t.index(["package_id", "type"], "package_events_package_type_index");
    });
  },
  async down(knex) {
    await knex.schema.alterTable("package_events", (t) => {
      t.dropIndex(["package_id", "type"], "package_events_package_type_index");
    });
    await knex.schema.alterTable("files", (t) => {
      t.index(["package_id", "created_at"]);
      t.dropIndex(["package_id", "created_at", "name", "id"], "files_package_order_index");
    });
    await knex.schema.alterTable("packages", (t) => {
      t.index(["owner_id", "created_at"]);
      t.dropIndex(["owner_id", "created_at", "id"], "packages_owner_created_id_index");
    });
  },
};
