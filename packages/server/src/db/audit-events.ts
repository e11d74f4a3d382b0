import type { Knex } from "knex";

/**
 * What the instance's audit trail records besides package events: exchanges of CI identities for
 * tokens (and refusals of valid identities), changes to trust policies, and sign-ins through
 * single sign-on (with the accounts they made or whose role they changed), password resets, and
 * changes to the instance's policy.
 */
export type AuditEventType =
  | "oidc.exchanged"
  | "oidc.refused"
  | "trust_policy.created"
  | "trust_policy.updated"
  | "trust_policy.deleted"
  | "password_reset.requested"
  | "password_reset.completed"
  | "user.password_reset_forced"
  | "auth.signed_in"
  | "auth.sign_in_failed"
  | "user.created"
  | "user.updated"
  | "policy.updated"
  /** `speedyfiles-server backup` finished (recorded in the database backed up; no actor: a command line). */
  | "backup.created"
  /** `speedyfiles-server restore` put a backup in place (recorded in the restored database). */
  | "backup.restored";

export interface AuditEventRow {
  id: string;
  type: AuditEventType;
  /** The user who acted (an admin), or the user a minted token acts for. */
  actor_user_id: string | null;
  /** What it is about: a trust policy's id, or the user a password reset is for. */
  subject_id: string | null;
  /** A JSON object: the details (never a token or a secret). */
  data: string;
  client_address: string | null;
  user_agent: string | null;
  created_at: string;
}

export async function insertAuditEvent(db: Knex, row: AuditEventRow): Promise<void> {
  await db("audit_events").insert(row);
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
