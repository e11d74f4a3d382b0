import type { Knex } from "knex";

/**
 * What the instance's audit trail records (GET /admin/events exports it): what happened to
 * packages and their links, sign-ins (password, token login, single sign-on), tokens, password
 * resets, admin actions (users, the instance's policy, trust policies), exchanges of CI
 * identities for tokens (and refusals of valid identities), and backups.
 */
export type AuditEventType =
  | "package.created"
  | "package.finalized"
  | "package.downloaded"
  | "package.uploaded"
  | "package.completed"
  | "package.revoked"
  | "package.expired"
  | "package.deleted"
  | "link.revoked"
  | "link.resent"
  | "auth.signed_in"
  | "auth.sign_in_failed"
  | "auth.signed_out"
  | "token.created"
  | "token.revoked"
  | "user.created"
  | "user.updated"
  | "user.disabled"
  | "user.enabled"
  | "user.password_reset_forced"
  | "password_reset.requested"
  | "password_reset.completed"
  | "policy.updated"
  | "oidc.exchanged"
  | "oidc.refused"
  | "trust_policy.created"
  | "trust_policy.updated"
  | "trust_policy.deleted"
  /** `speedyfiles-server backup` finished (recorded in the database backed up; no actor: a command line). */
  | "backup.created"
  /** `speedyfiles-server restore` put a backup in place (recorded in the restored database). */
  | "backup.restored";

export interface AuditEventRow {
  id: string;
  type: AuditEventType;
  /** The user who acted (an admin, a package's owner), or the user a minted token acts for. */
  actor_user_id: string | null;
  /**
   * What it is about: a user's, a package's or a trust policy's id. A user's or a package's id
   * here also fills `user_id` or `package_id` when those are not given.
   */
  subject_id: string | null;
  /** A JSON object: the details (never a password, token, link secret or key). */
  data: string;
  client_address: string | null;
  user_agent: string | null;
  created_at: string;
  /** The actor's email as it was then (read from `actor_user_id` when not given). */
  actor_email?: string | null;
  /** The user it is about (a package's owner, the user changed, the account signed in to). */
  user_id?: string | null;
  package_id?: string | null;
  link_id?: string | null;
  file_id?: string | null;
}

/** A row as stored: every column, and its number in the trail. */
export interface StoredAuditEvent extends Required<AuditEventRow> {
  seq: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Records an event under the trail's next number. The counter's row stays locked until the
 * transaction ends, so rows become visible in their numbers' order and a reader past number n
 * never misses one below it committed later (the export's cursor relies on it). Called without a
 * transaction, it opens one of its own for the number and the row.
 */
export async function insertAuditEvent(db: Knex, row: AuditEventRow): Promise<void> {
  const full = await completed(db, row);
  const write = async (trx: Knex) => {
    await trx("audit_event_seq").where({ id: 1 }).increment("last_seq", 1);
    const counter = (await trx("audit_event_seq").where({ id: 1 }).first("last_seq")) as { last_seq: number | string };
    await trx("audit_events").insert({ ...full, seq: Number(counter.last_seq) });
  };
  if (db.isTransaction) await write(db);
  else await db.transaction(write);
}

/** The row with what it is about and who acted filled in from `subject_id` and `actor_user_id`. */
async function completed(db: Knex, row: AuditEventRow): Promise<Omit<StoredAuditEvent, "seq">> {
  let userId = row.user_id;
  let packageId = row.package_id;
  const subject = row.subject_id;
  if (subject && UUID.test(subject) && userId === undefined && packageId === undefined) {
    const id = subject.toLowerCase();
    if (await db("users").where({ id }).first("id")) userId = id;
    else {
      const pkg = (await db("packages").where({ id }).first("owner_id")) as { owner_id: string } | undefined;
      if (pkg) {
        packageId = id;
        userId = pkg.owner_id;
      }
    }
  }
  let actorEmail = row.actor_email;
  if (actorEmail === undefined && row.actor_user_id) {
    actorEmail = ((await db("users").where({ id: row.actor_user_id }).first("email")) as { email: string } | undefined)?.email ?? null;
  }
  return {
    ...row,
    actor_email: actorEmail ?? null,
    user_id: userId ?? null,
    package_id: packageId ?? null,
    link_id: row.link_id ?? null,
    file_id: row.file_id ?? null,
  };
}

/** The newest events about one subject, or of one type, newest first. */
export async function listAuditEvents(db: Knex, filter: { subjectId?: string; type?: AuditEventType; limit: number }): Promise<AuditEventRow[]> {
  const q = db<AuditEventRow>("audit_events");
  if (filter.subjectId) q.where({ subject_id: filter.subjectId });
  if (filter.type) q.where({ type: filter.type });
  return q
    .orderBy([
      { column: "created_at", order: "desc" },
      { column: "id", order: "desc" },
    ])
    .limit(filter.limit);
}

/** Which events an export wants. Each field given narrows it; none: every event. */
export interface AuditFilter {
  /** Events whose actor or subject is one of these users (an empty list matches nothing). */
  userIds?: string[];
  packageId?: string;
  /** Exact types and families (`package`: every `package.…`); either matches. */
  types?: { exact: string[]; families: string[] };
  /** created_at at or after this instant. */
  since?: string;
  /** created_at before this instant. */
  until?: string;
}

function filtered(db: Knex, f: AuditFilter): Knex.QueryBuilder {
  const q = db("audit_events");
  if (f.userIds) {
    const ids = f.userIds;
    if (ids.length === 0) q.whereRaw("1 = 0");
    else q.where((w) => w.whereIn("actor_user_id", ids).orWhereIn("user_id", ids));
  }
  if (f.packageId) q.where("package_id", f.packageId);
  if (f.types) {
    const { exact, families } = f.types;
    q.where((w) => {
      if (exact.length > 0) w.whereIn("type", exact);
      // A family's names are [a-z_] (openapi.yaml's pattern): `_` is a LIKE wildcard, escaped.
      for (const family of families) w.orWhereRaw("type like ? escape '\\'", [`${family.replace(/_/g, "\\_")}.%`]);
    });
  }
  if (f.since) q.where("created_at", ">=", f.since);
  if (f.until) q.where("created_at", "<", f.until);
  return q;
}

/**
 * One batch of a walk: the matching events numbered above `afterSeq` and at most `throughSeq`,
 * in their numbers' order.
 */
export async function auditEventsAfter(db: Knex, f: AuditFilter, afterSeq: number, throughSeq: number, limit: number): Promise<StoredAuditEvent[]> {
  const rows = (await filtered(db, f).where("seq", ">", afterSeq).where("seq", "<=", throughSeq).orderBy("seq", "asc").limit(limit).select("*")) as StoredAuditEvent[];
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

/** The number of the newest event visible now (0: none): a walk that starts now ends there. */
export async function lastAuditSeq(db: Knex): Promise<number> {
  const row = (await db("audit_events").max({ m: "seq" }).first()) as { m: number | string | null } | undefined;
  return Number(row?.m ?? 0);
}

/**
 * The number of the `n`th matching event above `afterSeq` (1: the first), at most `throughSeq`;
 * undefined when there are fewer.
 */
export async function nthAuditSeq(db: Knex, f: AuditFilter, afterSeq: number, throughSeq: number, n: number): Promise<number | undefined> {
  const row = (await filtered(db, f)
    .where("seq", ">", afterSeq)
    .where("seq", "<=", throughSeq)
    .orderBy("seq", "asc")
    .offset(n - 1)
    .first("seq")) as { seq: number | string } | undefined;
  return row ? Number(row.seq) : undefined;
}
