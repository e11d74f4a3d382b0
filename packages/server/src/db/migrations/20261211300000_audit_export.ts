import type { Migration } from "./migration.js";

/**
 * Rows copied per round trip when the link activity of before is brought into the audit trail
 * (SQLite takes at most 500 rows in one multi-row insert: knex writes it as a compound select).
 */
const BATCH = 500;

interface OldEvent {
  id: string;
  package_id: string;
  type: "file_download" | "archive_download" | "upload" | "complete";
  file_id: string | null;
  file_name: string | null;
  client_address: string | null;
  user_agent: string | null;
  created_at: string;
  link_id: string | null;
  owner_id: string | null;
  recipient_email: string | null;
}

const TYPES: Record<OldEvent["type"], string> = {
  file_download: "package.downloaded",
  archive_download: "package.downloaded",
  upload: "package.uploaded",
  complete: "package.completed",
};

export const migration: Migration = {
  async up(knex) {
    // One audit trail for the instance (decisions/0043): every event from now on is a row here,
    // numbered by `seq` in the order the rows became visible (db/audit-events.ts takes the next
    // number from `audit_event_seq` under its row lock), which is the export's cursor order.
    // What it is about is in columns of its own so the export's filters use indexes. No foreign
    // keys: the trail outlives the packages and links it tells of.
    await knex.schema.alterTable("audit_events", (t) => {
      t.bigInteger("seq");
      t.string("actor_email", 254);
      t.uuid("user_id");
      t.uuid("package_id");
      t.uuid("link_id");
      t.uuid("file_id");
    });
    await knex.schema.createTable("audit_event_seq", (t) => {
      t.integer("id").primary();
      t.bigInteger("last_seq").notNullable();
    });

    // The link activity recorded before (package_events: downloads, uploads, completions) joins
    // the trail, so an export covers the time before this version too.
    let after: { created_at: string; id: string } | undefined;
    for (;;) {
      const q = knex("package_events as e")
        .leftJoin("packages as p", "p.id", "e.package_id")
        .leftJoin("package_links as l", "l.id", "e.link_id")
        .select("e.id", "e.package_id", "e.type", "e.file_id", "e.file_name", "e.client_address", "e.user_agent", "e.created_at", "e.link_id", "p.owner_id", "l.recipient_email")
        .orderBy([
          { column: "e.created_at", order: "asc" },
          { column: "e.id", order: "asc" },
        ])
        .limit(BATCH);
      if (after) {
        const a = after;
        q.where((w) => w.where("e.created_at", ">", a.created_at).orWhere((x) => x.where("e.created_at", a.created_at).andWhere("e.id", ">", a.id)));
      }
      const rows = (await q) as OldEvent[];
      if (rows.length === 0) break;
      await knex("audit_events").insert(rows.map(copyOf));
      const last = rows[rows.length - 1]!;
      after = { created_at: last.created_at, id: last.id };
      if (rows.length < BATCH) break;
    }

    // Number every row by time (the same statement runs on SQLite and PostgreSQL).
    await knex.raw(`update audit_events set seq = r.n from (select id, row_number() over (order by created_at, id) as n from audit_events) as r where audit_events.id = r.id`);
    const max = (await knex("audit_events").max({ m: "seq" }).first()) as { m: number | string | null } | undefined;
    await knex("audit_event_seq").insert({ id: 1, last_seq: Number(max?.m ?? 0) });

    await knex.schema.alterTable("audit_events", (t) => {
      t.unique(["seq"], { indexName: "audit_events_seq_unique" });
      t.index(["user_id", "seq"], "audit_events_user_seq_index");
      t.index(["actor_user_id", "seq"], "audit_events_actor_seq_index");
      t.index(["package_id", "seq"], "audit_events_package_seq_index");
      t.index(["type", "seq"], "audit_events_type_seq_index");
      t.index(["created_at"], "audit_events_created_at_index");
    });
  },
  async down(knex) {
    await knex("audit_events").whereNotIn("type", ["oidc.exchanged", "oidc.refused", "trust_policy.created", "trust_policy.updated", "trust_policy.deleted"]).delete();
    await knex.schema.alterTable("audit_events", (t) => {
      t.dropUnique(["seq"], "audit_events_seq_unique");
      t.dropIndex(["user_id", "seq"], "audit_events_user_seq_index");
      t.dropIndex(["actor_user_id", "seq"], "audit_events_actor_seq_index");
      t.dropIndex(["package_id", "seq"], "audit_events_package_seq_index");
      t.dropIndex(["type", "seq"], "audit_events_type_seq_index");
      t.dropIndex(["created_at"], "audit_events_created_at_index");
    });
    await knex.schema.alterTable("audit_events", (t) => {
      t.dropColumn("seq");
      t.dropColumn("actor_email");
      t.dropColumn("user_id");
      t.dropColumn("package_id");
      t.dropColumn("link_id");
      t.dropColumn("file_id");
    });
    await knex.schema.dropTable("audit_event_seq");
  },
};

function copyOf(e: OldEvent): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  if (e.recipient_email) data.recipient_email = e.recipient_email;
  if (e.type === "file_download") data.what = "file";
  if (e.type === "archive_download") data.what = "archive";
  if (e.file_name) data.file_name = e.file_name;
  return {
    id: e.id,
    type: TYPES[e.type],
    actor_user_id: null,
    actor_email: null,
    subject_id: e.package_id,
    user_id: e.owner_id,
    package_id: e.package_id,
    link_id: e.link_id,
    file_id: e.file_id,
    data: JSON.stringify(data),
    client_address: e.client_address,
    user_agent: e.user_agent,
    created_at: e.created_at,
  };
}
