import crypto from "node:crypto";
import type { Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // Facts about the database itself, one row each. `instance_id` names this database (made once,
    // here): the blob store carries it in a marker, so that a sweeper whose database is not the
    // store's own (a wrong SF_DATABASE_URL, an empty staging database on production's bucket)
    // removes nothing from it (services/orphan-blobs.ts).
    await knex.schema.createTable("instance_meta", (t) => {
      t.string("name", 64).primary();
      t.string("value", 255).notNullable();
    });
    await knex("instance_meta").insert({ name: "instance_id", value: crypto.randomUUID() });
  },
  async down(knex) {
    await knex.schema.dropTable("instance_meta");
  },
};
