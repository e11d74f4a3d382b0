import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // Mail is an outbox: a message is written here in the transaction of the change that causes
    // it and sent by the mail worker (jobs/mail-worker.ts) with retries. The body (which may hold
    // a magic link's secret) is sealed with the server's key while queued and wiped once the
    // message was sent or given up; the rest stays as the recipient's mail state.
    await knex.schema.createTable("mail_outbox", (t) => {
      t.uuid("id").primary();
      t.string("kind", 32).notNullable(); // package_link | upload_notice | download_receipt | downloads_used_up | webhook_disabled
      t.string("recipient", 254).notNullable();
      t.uuid("package_id").references("id").inTable("packages").onDelete("CASCADE");
      t.uuid("link_id").references("id").inTable("package_links").onDelete("CASCADE");
      t.string("state", 16).notNullable(); // queued | sent | failed | cancelled
      t.string("key_id", 16); // which server key sealed the body (null once wiped)
      t.text("body"); // AES-256-GCM sealed message; null once sent, given up or cancelled
      t.integer("attempts").notNullable().defaultTo(0);
      ts(t, "next_attempt_at");
      ts(t, "lease_until");
      ts(t, "last_attempt_at");
      t.string("last_error", 300);
      ts(t, "created_at").notNullable();
      ts(t, "sent_at");
      ts(t, "failed_at");
      t.index(["state", "next_attempt_at"]);
      t.index(["link_id"]);
      t.index(["package_id"]);
    });
  },
  async down(knex) {
    await knex.schema.dropTable("mail_outbox");
  },
};
