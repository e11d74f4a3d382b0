import type { Knex } from "knex";

export interface SessionRow {
  id: string;
  user_id: string;
  secret_hash: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  revoked_at: string | null;
  client_address: string | null;
  user_agent: string | null;
  /** How it was opened (the column's default: `password`). */
  sign_in_method?: SignInMethod;
}

/** How a browser session was opened: the sign-in form, or the OpenID provider. */
export type SignInMethod = "password" | "sso";

/** A session with what a page needs to know about its user. */
export interface SessionWithUser extends SessionRow {
  u_email: string;
  u_name: string;
  u_role: string;
  u_disabled: unknown;
}

export async function insertSession(db: Knex, row: SessionRow): Promise<void> {
  await db("web_sessions").insert(row);
}

/** The session with this secret hash together with its user, in one indexed query. */
export async function findSessionWithUser(db: Knex, secretHash: string): Promise<SessionWithUser | undefined> {
  return db("web_sessions as s")
    .join("users as u", "u.id", "s.user_id")
    .where("s.secret_hash", secretHash)
    .first("s.*", "u.email as u_email", "u.name as u_name", "u.role as u_role", "u.disabled as u_disabled");
}

export async function touchSession(db: Knex, id: string, now: string): Promise<void> {
  await db("web_sessions").where({ id }).update({ last_seen_at: now });
}

/** A user's sessions that are neither revoked nor past their absolute expiry, newest first. */
export async function listLiveSessions(db: Knex, userId: string, now: string): Promise<SessionRow[]> {
  return db<SessionRow>("web_sessions")
    .where({ user_id: userId })
    .whereNull("revoked_at")
    .where("expires_at", ">", now)
    .orderBy([
      { column: "created_at", order: "desc" },
      { column: "id", order: "desc" },
    ]);
}

/** Revokes one session of this user; false if there is no such live session. */
export async function revokeSessionRow(db: Knex, userId: string, id: string, now: string): Promise<boolean> {
  return (await db("web_sessions").where({ id, user_id: userId }).whereNull("revoked_at").update({ revoked_at: now })) > 0;
}

/** Revokes every session of a user except `keepId` (none kept when it is undefined); returns how many. */
export async function revokeUserSessions(db: Knex, userId: string, now: string, keepId?: string): Promise<number> {
  const q = db("web_sessions").where({ user_id: userId }).whereNull("revoked_at");
  if (keepId) q.whereNot({ id: keepId });
  return q.update({ revoked_at: now });
}

/** Deletes sessions that ended (revoked or past their absolute expiry) before `before`. */
export async function deleteEndedSessions(db: Knex, before: string): Promise<number> {
  return db("web_sessions")
    .where((w) => w.where("expires_at", "<", before).orWhere("revoked_at", "<", before))
    .delete();
}
