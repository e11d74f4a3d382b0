import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // Sign-ins through the OpenID provider under way: the browser went to the provider and has
    // not come back yet. Looked up by the SHA-256 of the `state` the provider hands back, and
    // bound to the browser that started it by the SHA-256 of its `sf_sso` cookie; taken (deleted)
    // by the callback, so each is used at most once. The sweeper deletes the ones never finished.
    await knex.schema.createTable("sso_sign_ins", (t) => {
      t.uuid("id").primary();
      t.string("state_hash", 64).notNullable().unique();
      t.string("browser_hash", 64).notNullable();
      t.string("nonce", 128).notNullable();
      t.string("code_verifier", 128).notNullable();
      t.string("next_path", 2000);
      ts(t, "created_at").notNullable();
      ts(t, "expires_at").notNullable();
      t.index(["expires_at"]);
    });
    // How a browser session was opened: signing out of an SSO session may also end the provider's.
    await knex.schema.alterTable("web_sessions", (t) => {
      t.string("sign_in_method", 16).notNullable().defaultTo("password");
    });
  },
  async down(knex) {
    await knex.schema.alterTable("web_sessions", (t) => {
      t.dropColumn("sign_in_method");
    });
    await knex.schema.dropTable("sso_sign_ins");
  },
};
