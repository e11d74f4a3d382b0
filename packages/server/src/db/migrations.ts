import crypto from "node:crypto";
import type { Knex } from "knex";

// Migrations live in code (not loaded from a folder) so the compiled server and the tests run
// the same list without a file-system lookup. Timestamps are ISO-8601 UTC strings of fixed width
// in both databases, which keeps ordering and comparisons identical on SQLite and PostgreSQL.

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const ts = (t: Knex.CreateTableBuilder, name: string) => t.string(name, 24);

const migrations: Record<string, Migration> = {
  "20261127000000_users_and_tokens": {
    async up(knex) {
      await knex.schema.createTable("users", (t) => {
        t.uuid("id").primary();
        t.string("email", 254).notNullable().unique(); // stored lower-cased
        t.string("name", 200).notNullable();
        t.string("role", 16).notNullable().defaultTo("user");
        t.string("password_hash", 255).notNullable();
        t.boolean("disabled").notNullable().defaultTo(false);
        ts(t, "created_at").notNullable();
        ts(t, "updated_at").notNullable();
      });
      await knex.schema.createTable("api_tokens", (t) => {
        t.uuid("id").primary();
        t.uuid("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
        t.string("name", 100).notNullable();
        t.string("prefix", 11).notNullable();
        t.string("token_hash", 64).notNullable().unique(); // hex SHA-256 of the raw token
        ts(t, "created_at").notNullable();
        ts(t, "expires_at");
        ts(t, "last_used_at");
        ts(t, "revoked_at");
        t.index(["user_id"]);
      });
    },
    async down(knex) {
      await knex.schema.dropTable("api_tokens");
      await knex.schema.dropTable("users");
    },
  },
  "20261127000100_packages_and_files": {
    async up(knex) {
      await knex.schema.createTable("packages", (t) => {
        t.uuid("id").primary();
        t.uuid("owner_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
        t.string("title", 200).notNullable();
        t.string("recipient_email", 254).notNullable();
        t.string("recipient_name", 200);
        t.string("direction", 16).notNullable();
        t.string("status", 16).notNullable();
        t.integer("ttl_days").notNullable();
        t.text("message");
        t.string("link_hash", 64).unique(); // hex SHA-256 of the magic-link secret
        ts(t, "created_at").notNullable();
        ts(t, "finalized_at");
        ts(t, "expires_at");
        ts(t, "revoked_at");
        t.index(["owner_id", "created_at"]);
        t.index(["status", "expires_at"]);
      });
      await knex.schema.createTable("files", (t) => {
        t.uuid("id").primary();
        t.uuid("package_id").notNullable().references("id").inTable("packages").onDelete("CASCADE");
        t.string("name", 1024).notNullable();
        t.bigInteger("size").notNullable();
        t.string("sha256", 64).notNullable();
        t.string("content_type", 255).notNullable();
        t.string("storage_key", 100).notNullable();
        ts(t, "created_at").notNullable();
        t.index(["package_id", "created_at"]);
        // One name once per package: a recipient's zip or download folder can hold every file.
        t.unique(["package_id", "name"]);
      });
    },
    async down(knex) {
      await knex.schema.dropTable("files");
      await knex.schema.dropTable("packages");
    },
  },
  "20261127000200_recipient_side": {
    async up(knex) {
      await knex.schema.alterTable("packages", (t) => {
        ts(t, "completed_at"); // inbound: the recipient last said "done"
        ts(t, "purged_at"); // the sweeper deleted the stored bytes
      });
      await knex.schema.createTable("package_events", (t) => {
        t.uuid("id").primary();
        t.uuid("package_id").notNullable().references("id").inTable("packages").onDelete("CASCADE");
        t.string("type", 32).notNullable();
        t.uuid("file_id");
        t.string("file_name", 1024);
        t.string("client_address", 64);
        t.string("user_agent", 300);
        ts(t, "created_at").notNullable();
        t.index(["package_id", "created_at"]);
      });
    },
    async down(knex) {
      await knex.schema.dropTable("package_events");
      await knex.schema.alterTable("packages", (t) => {
        t.dropColumn("completed_at");
        t.dropColumn("purged_at");
      });
    },
  },
  "20261127000300_dead_links": {
    async up(knex) {
      // Hashes of links whose package was deleted: they answer 410 Gone, not 404, so a recipient
      // learns the files are gone rather than that they mistyped the link.
      await knex.schema.createTable("dead_links", (t) => {
        t.string("link_hash", 64).primary();
        ts(t, "died_at").notNullable();
      });
    },
    async down(knex) {
      await knex.schema.dropTable("dead_links");
    },
  },
  "20261128000000_file_name_keys": {
    async up(knex) {
      // How a name compares on a recipient's disk (see nameKey in db/files.ts): two files whose
      // keys are equal, or where one key is a folder of the other, cannot both be extracted.
      await knex.schema.alterTable("files", (t) => {
        t.string("name_key", 1024);
      });
      const rows = (await knex("files").select("id", "name")) as { id: string; name: string }[];
      for (const r of rows) await knex("files").where({ id: r.id }).update({ name_key: r.name.normalize("NFC").toLowerCase() });
      await knex.schema.alterTable("files", (t) => {
        t.index(["package_id", "name_key"]);
      });
    },
    async down(knex) {
      await knex.schema.alterTable("files", (t) => {
        t.dropIndex(["package_id", "name_key"]);
        t.dropColumn("name_key");
      });
    },
  },
  "20261128000100_completion_file_count": {
    async up(knex) {
      // The owner is told of an inbound link's "done" only when files arrived since the last one.
      await knex.schema.alterTable("packages", (t) => {
        t.integer("completed_file_count").notNullable().defaultTo(0);
      });
    },
    async down(knex) {
      await knex.schema.alterTable("packages", (t) => {
        t.dropColumn("completed_file_count");
      });
    },
  },
  "20261128000200_idempotency_keys": {
    async up(knex) {
      // Answers kept for safe retries of POST /packages and /finalize (see services/idempotency.ts).
      await knex.schema.createTable("idempotency_keys", (t) => {
        t.uuid("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
        t.string("key_hash", 64).notNullable(); // hex SHA-256 of the client's key
        t.string("operation", 64).notNullable();
        t.string("fingerprint", 64).notNullable(); // hex SHA-256 of the request (path and body)
        t.string("state", 16).notNullable(); // pending | done
        t.integer("status");
        t.text("response"); // AES-256-GCM, with a key derived from the client's key
        ts(t, "created_at").notNullable();
        t.primary(["user_id", "key_hash"]);
        t.index(["created_at"]);
      });
    },
    async down(knex) {
      await knex.schema.dropTable("idempotency_keys");
    },
  },
  "20261128000300_webhooks": {
    async up(knex) {
      await knex.schema.createTable("webhooks", (t) => {
        t.uuid("id").primary();
        t.uuid("owner_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
        t.string("url", 2000).notNullable();
        t.text("events").notNullable(); // JSON array of event types
        t.string("description", 200);
        t.string("secret", 60).notNullable();
        t.boolean("enabled").notNullable().defaultTo(true);
        t.string("disabled_reason", 300);
        ts(t, "failing_since");
        ts(t, "created_at").notNullable();
        ts(t, "updated_at").notNullable();
        t.index(["owner_id"]);
      });
      // The outbox: an event is written in the transaction of the change that caused it, with one
      // delivery per subscribed webhook; the worker sends them (webhooks/worker.ts).
      await knex.schema.createTable("webhook_events", (t) => {
        t.bigIncrements("seq").primary();
        t.uuid("id").notNullable().unique();
        t.uuid("owner_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
        t.uuid("package_id"); // no foreign key: a package.deleted event outlives its package
        t.string("type", 32).notNullable();
        t.text("payload").notNullable();
        ts(t, "created_at").notNullable();
      });
      await knex.schema.createTable("webhook_deliveries", (t) => {
        t.uuid("id").primary();
        t.uuid("webhook_id").notNullable().references("id").inTable("webhooks").onDelete("CASCADE");
        t.bigInteger("event_seq").notNullable().references("seq").inTable("webhook_events").onDelete("CASCADE");
        t.uuid("package_id");
        t.string("state", 16).notNullable();
        t.integer("attempts").notNullable().defaultTo(0);
        ts(t, "next_attempt_at");
        ts(t, "lease_until");
        t.integer("last_status_code");
        t.integer("last_duration_ms");
        t.string("last_error", 500);
        t.text("response_excerpt");
        ts(t, "created_at").notNullable();
        ts(t, "delivered_at");
        t.uuid("redelivery_of");
        t.index(["state", "next_attempt_at"]);
        t.index(["webhook_id", "created_at"]);
        t.index(["webhook_id", "package_id", "event_seq"]);
      });
    },
    async down(knex) {
      await knex.schema.dropTable("webhook_deliveries");
      await knex.schema.dropTable("webhook_events");
      await knex.schema.dropTable("webhooks");
    },
  },
  "20261128000400_list_indexes": {
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
  },
  "20261128000500_counters": {
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
  },
  "20261129000000_web_sessions": {
    async up(knex) {
      // Browser sessions of the web interface. As with API tokens, only the SHA-256 of the
      // cookie's secret is stored: a copy of the database signs nobody in.
      await knex.schema.createTable("web_sessions", (t) => {
        t.uuid("id").primary();
        t.uuid("user_id").notNullable().references("id").inTable("users").onDelete("CASCADE");
        t.string("secret_hash", 64).notNullable().unique();
        ts(t, "created_at").notNullable();
        ts(t, "last_seen_at").notNullable(); // idle expiry counts from here
        ts(t, "expires_at").notNullable(); // absolute expiry
        ts(t, "revoked_at");
        t.string("client_address", 64);
        t.string("user_agent", 300);
        t.index(["user_id"]);
        t.index(["expires_at"]);
      });
    },
    async down(knex) {
      await knex.schema.dropTable("web_sessions");
    },
  },
  "20261130200000_rate_limits": {
    // express-rate-limit's counters, shared by every server process (http/rate-limit-store.ts).
    async up(knex) {
      await knex.schema.createTable("rate_limits", (t) => {
        t.string("key", 64).primary(); // hex SHA-256 of limiter prefix and client key
        t.integer("hits").notNullable();
        t.bigInteger("reset_at").notNullable(); // ms since the epoch
        t.index(["reset_at"]);
      });
    },
    async down(knex) {
      await knex.schema.dropTable("rate_limits");
    },
  },
  "20261130100000_uploads": {
    async up(knex) {
      // Resumable (tus) uploads: the tus store holds the bytes; this row holds what the package's
      // rules need before the last byte (limits, names, finalize, expiry, deletion) and, once the
      // file is in, its id (so a client that lost the last answer learns it on its next HEAD).
      await knex.schema.createTable("uploads", (t) => {
        t.uuid("id").primary();
        t.uuid("package_id").notNullable().references("id").inTable("packages").onDelete("CASCADE");
        t.string("name", 1024).notNullable();
        t.string("name_key", 1024).notNullable();
        t.bigInteger("size").notNullable();
        t.bigInteger("received").notNullable().defaultTo(0); // the offset, cached; the store's offset is the truth
        t.string("sha256", 64); // expected, from Upload-Metadata
        t.string("content_type", 255).notNullable();
        t.string("via", 8).notNullable(); // owner | link
        t.uuid("file_id"); // set once the file is in the package
        ts(t, "created_at").notNullable();
        ts(t, "expires_at").notNullable();
        ts(t, "completed_at");
        t.string("locked_by", 64); // the lease of the process writing to it (multi-process lock)
        ts(t, "lock_expires_at");
        t.index(["package_id"]);
        t.index(["expires_at"]);
      });
    },
    async down(knex) {
      await knex.schema.dropTable("uploads");
    },
  },
  "20261130000000_recipient_links": {
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
      const rows = (await knex("packages")
        .select("id", "recipient_email", "recipient_name", "link_hash", "created_at", "finalized_at", "download_count")) as {
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
  },
  "20261130400000_blob_deletions": {
    async up(knex) {
      // Stored bytes to delete: written with the rows' deletion, removed once the store confirms.
      await knex.schema.createTable("blob_deletions", (t) => {
        t.string("key", 100).primary(); // the storage key (the object under SF_S3_PREFIX, or the file)
        t.integer("attempts").notNullable().defaultTo(0);
        ts(t, "next_at").notNullable();
        ts(t, "created_at").notNullable();
        t.index(["next_at"]);
      });
    },
    async down(knex) {
      await knex.schema.dropTable("blob_deletions");
    },
  },
  "20261130500000_upload_chunks": {
    async up(knex) {
      // With SF_STORAGE=s3, an unfinished resumable upload's bytes are objects
      // `<prefix>tus/<upload id>/<offset>` (storage/upload-store.ts): one row per object, written
      // once the object is complete. The upload's offset is the sum of its rows' sizes.
      await knex.schema.createTable("upload_chunks", (t) => {
        t.uuid("upload_id").notNullable().references("id").inTable("uploads").onDelete("CASCADE");
        t.bigInteger("offset").notNullable();
        t.bigInteger("size").notNullable();
        t.primary(["upload_id", "offset"]);
      });
    },
    async down(knex) {
      await knex.schema.dropTable("upload_chunks");
    },
  },
  "20261207000000_web_session_flashes": {
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
  },
  "20261201100000_token_scopes": {
    async up(knex) {
      // A JSON array of the scopes a token is limited to; null: every scope its user's role allows.
      await knex.schema.alterTable("api_tokens", (t) => {
        t.text("scopes");
      });
    },
    async down(knex) {
      await knex.schema.alterTable("api_tokens", (t) => {
        t.dropColumn("scopes");
      });
    },
  },
  "20261201000000_mail_outbox": {
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
  },
  "20261208100000_event_cursors": {
    async up(knex) {
      // Each package numbers its events (1, 2, …) from a counter on its row: the row's lock orders
      // concurrent writers, so a later number is never visible before an earlier one of the same
      // package. `after=<seq>` on the events list is a cursor on that number.
      await knex.schema.alterTable("packages", (t) => {
        t.integer("event_seq").notNullable().defaultTo(0);
      });
      await knex.schema.alterTable("package_events", (t) => {
        t.integer("seq");
      });
      await knex.raw(
        `update package_events set seq = (select count(*) from package_events e where e.package_id = package_events.package_id
           and (e.created_at < package_events.created_at or (e.created_at = package_events.created_at and e.id <= package_events.id)))`,
      );
      await knex.raw("update packages set event_seq = (select coalesce(max(e.seq), 0) from package_events e where e.package_id = packages.id)");
      await knex.schema.alterTable("package_events", (t) => {
        t.index(["package_id", "seq"], "package_events_package_seq_index");
      });
    },
    async down(knex) {
      await knex.schema.alterTable("package_events", (t) => {
        t.dropIndex(["package_id", "seq"], "package_events_package_seq_index");
        t.dropColumn("seq");
      });
      await knex.schema.alterTable("packages", (t) => {
        t.dropColumn("event_seq");
      });
    },
  },
  "20261207100000_trust_policies_and_audit_events": {
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
  },
};

export const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return Object.keys(migrations).sort();
  },
  getMigrationName(name) {
    return name;
  },
  async getMigration(name) {
    const m = migrations[name];
    if (!m) throw new Error(`unknown migration ${name}`);
    return m;
  },
};
