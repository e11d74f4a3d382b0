import crypto from "node:crypto";
import { ts, type Migration } from "./migration.js";

export const migration: Migration = {
  async up(knex) {
    // One link per recipient, so each can be revoked and counted alone: each its own secret
    // (only the SHA-256 is stored), its own revocation, counts and audit trail. The package's
    // expiry and status still govern all.
    await knex.schema.createTable("package_links", (t) => {
      t.uuid("id").primary();
      t.uuid("package_id").notNullable().references("id").inTable("packages").onDelete("CASCADE");
      t.string("recipient_email", 254).notNullable();
      t.string("recipient_name", 200);
      t.string("link_hash", 64).notNullable().unique(); // hex SHA-256 of the link's secret
      t.integer("position").notNullable().defaultTo(0); // the recipient's place in the request
      ts(t, "created_at").notNullable();
      ts(t, "revoked_at");
      t.integer("download_count").notNullable().defaultTo(0);
      ts(t, "first_download_at");
      ts(t, "receipt_sent_at"); // the sender's receipt of this recipient's first download went out
      ts(t, "limit_notified_at"); // the sender was told this link's downloads are used up
      t.index(["package_id", "position"]);
    });
    // Complete downloads of each file through each link (max_downloads counts these).
    await knex.schema.createTable("link_file_downloads", (t) => {
      t.uuid("link_id").notNullable().references("id").inTable("package_links").onDelete("CASCADE");
      t.uuid("file_id").notNullable().references("id").inTable("files").onDelete("CASCADE");
      t.integer("count").notNullable().defaultTo(0);
      t.primary(["link_id", "file_id"]);
    });
    // A download in flight holds one of a file's remaining downloads until it ends (counted or
    // released); \`until\` frees a hold left behind by a process that died mid-transfer.
    await knex.schema.createTable("link_download_holds", (t) => {
      t.uuid("id").primary();
      t.uuid("link_id").notNullable().references("id").inTable("package_links").onDelete("CASCADE");
      t.uuid("file_id").notNullable().references("id").inTable("files").onDelete("CASCADE");
      ts(t, "until").notNullable();
      t.index(["link_id", "file_id"]);
    });
    await knex.schema.alterTable("packages", (t) => {
      t.integer("max_downloads");
      t.string("password_hash", 255);
      t.boolean("notify_on_download").notNullable().defaultTo(true);
    });
    await knex.schema.alterTable("package_events", (t) => {
      t.uuid("link_id");
    });
    await knex.schema.alterTable("dead_links", (t) => {
      t.string("reason", 16).notNullable().defaultTo("deleted"); // deleted | replaced
    });
    // Every existing package's recipient becomes its one recipient link: the same hash, so links
    // already emailed keep working, with the package's downloads and events.
    const rows = (await knex("packages").select("id", "recipient_email", "recipient_name", "link_hash", "created_at", "finalized_at", "download_count")) as {
      id: string;
      recipient_email: string;
      recipient_name: string | null;
      link_hash: string | null;
      created_at: string;
      finalized_at: string | null;
      download_count: number | string;
    }[];
    // A draft's recipient gets a row too, with random bytes as its hash until finalize mints the
    // real link (no secret hashes to them).
    for (const r of rows) {
      const linkId = crypto.randomUUID();
      await knex("package_links").insert({
        id: linkId,
        package_id: r.id,
        recipient_email: r.recipient_email,
        recipient_name: r.recipient_name,
        link_hash: r.link_hash ?? crypto.randomBytes(32).toString("hex"),
        created_at: r.finalized_at ?? r.created_at,
        download_count: Number(r.download_count),
        // Downloaded before receipts existed: no receipt for a download made long ago.
        receipt_sent_at: Number(r.download_count) > 0 ? new Date().toISOString() : null,
      });
      await knex("package_events").where({ package_id: r.id }).update({ link_id: linkId });
    }
    // packages.link_hash stays as a mirror of the first recipient's link (readable by tools and
    // by an older server after a rollback); lookups read package_links only.
  },
  async down(knex) {
    await knex.schema.alterTable("dead_links", (t) => {
      t.dropColumn("reason");
    });
    await knex.schema.alterTable("package_events", (t) => {
      t.dropColumn("link_id");
    });
    await knex.schema.alterTable("packages", (t) => {
      t.dropColumn("max_downloads");
      t.dropColumn("password_hash");
      t.dropColumn("notify_on_download");
    });
    await knex.schema.dropTable("link_download_holds");
    await knex.schema.dropTable("link_file_downloads");
    await knex.schema.dropTable("package_links");
  },
};
