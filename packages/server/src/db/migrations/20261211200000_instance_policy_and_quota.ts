import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // The instance's policy: one row (id 1), the rules and each role's overrides as JSON objects.
    // No row: no rule. `updated_by` is the admin's email as it was (the user may go later).
    await knex.schema.createTable("instance_policy", (t) => {
      t.integer("id").primary();
      t.text("rules").notNullable();
      t.text("roles").notNullable();
      ts(t, "updated_at").notNullable();
      t.string("updated_by", 254);
    });
    // Room held in a user's storage quota by a multipart upload while its bytes arrive, so that
    // uploads at once cannot all pass the quota. Gone when the file is recorded (same transaction)
    // or refused; a process that died leaves one that lapses at `expires_at` (renewed while the
    // upload runs) and the sweeper removes it.
    await knex.schema.createTable("quota_reservations", (t) => {
      t.uuid("id").primary();
      t.uuid("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
      t.uuid("package_id").notNullable().references("id").inTable("packages").onDelete("CASCADE");
      t.bigInteger("bytes").notNullable();
      ts(t, "created_at").notNullable();
      ts(t, "expires_at").notNullable();
      t.index(["user_id", "expires_at"]);
      t.index(["expires_at"]);
    });
    // What a user holds is summed over their draft and active packages at each upload's start:
    // this index reads those alone, however many expired ones the user has.
    await knex.schema.alterTable("packages", (t) => {
      t.index(["owner_id", "status"], "packages_owner_status_index");
    });
  },
  async down(knex) {
    await knex.schema.alterTable("packages", (t) => {
      t.dropIndex(["owner_id", "status"], "packages_owner_status_index");
    });
    await knex.schema.dropTable("quota_reservations");
    await knex.schema.dropTable("instance_policy");
  },
};
