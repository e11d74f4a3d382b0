import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // What a page shows once after a form's redirect (post/redirect/get): a new token, a magic
    // link, a webhook's signing secret. Sealed with a key derived from the session's cookie
    // secret, which the database never holds, and deleted when shown (or by the sweeper).
    await knex.schema.createTable("web_session_flashes", (t) => {
      t.uuid("id").primary();
      t.uuid("session_id").notNullable().references("id").inTable("web_sessions").onDelete("CASCADE");
      t.string("kind", 64).notNullable();
      t.text("sealed").notNullable();
      ts(t, "created_at").notNullable();
      t.index(["session_id", "kind"]);
      t.index(["created_at"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("web_session_flashes");
  },
};
