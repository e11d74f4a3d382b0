import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // Keyless CI: who may exchange an OIDC ID token for a short-lived API token. `conditions`
    // is a JSON object (claim → exact value or glob), `scopes` and `allowed_events` JSON arrays.
    await knex.schema.createTable("trust_policies", (t) => {
      t.uuid("id").primary();
      t.string("name", 100).notNullable();
      t.string("issuer", 500).notNullable();
      t.string("audience", 500).notNullable();
      t.text("conditions").notNullable();
      t.uuid("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
      t.text("scopes").notNullable();
      t.integer("token_ttl_seconds").notNullable();
      t.text("allowed_events").notNullable();
      ts(t, "created_at").notNullable();
      ts(t, "updated_at").notNullable();
      t.index(["issuer"]);
    });
    // Tokens minted from a pipeline's identity live beside personal ones, told apart by `kind`;
    // the policy's delete removes them (services/trust-policies.ts), hence no foreign key here.
    await knex.schema.alterTable("api_tokens", (t) => {
      t.string("kind", 16).notNullable().defaultTo("personal");
      t.uuid("trust_policy_id");
      t.index(["trust_policy_id"]);
    });
    // The instance's audit trail for what is not a package's event: token exchanges (with the
    // policy and the claims that matched) and changes to trust policies.
    await knex.schema.createTable("audit_events", (t) => {
      t.uuid("id").primary();
      t.string("type", 64).notNullable();
      t.uuid("actor_user_id");
      t.string("subject_id", 64);
      t.text("data").notNullable();
      t.string("client_address", 100);
      t.string("user_agent", 500);
      ts(t, "created_at").notNullable();
      t.index(["type", "created_at"]);
      t.index(["subject_id", "created_at"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("audit_events");
    await knex.schema.alterTable("api_tokens", (t) => {
      t.dropIndex(["trust_policy_id"]);
      t.dropColumn("trust_policy_id");
      t.dropColumn("kind");
    });
    await knex.schema.dropTable("trust_policies");
  },
};
