import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // A request of an upload that another process holds asks it to let go (as @tus/server's
    // lock release does within a process): the holder sees the time here while it renews its
    // lease, stops reading its request's body, and frees the upload.
    await knex.schema.alterTable("uploads", (t) => {
      ts(t, "lock_wanted_at");
    });
  },
  async down(knex) {
    await knex.schema.alterTable("uploads", (t) => {
      t.dropColumn("lock_wanted_at");
    });
  },
};
