import crypto from "node:crypto";
import { NotFound, Unauthorized } from "../errors.js";
import { bool } from "../db/knex.js";
import type { Knex } from "knex";
import { deleteEndedSessions, findSessionWithUser, insertSession, listLiveSessions, revokeSessionRow, touchSession, type SessionRow, type SignInMethod } from "../db/sessions.js";
import { deleteExpiredSsoSignIns } from "../db/sso-sign-ins.js";
import type { Role } from "../db/users.js";
import { grantedScopes } from "../policies/index.js";
import { csrfTokenFor, flashKeyFor, generateSessionSecret, seal, sha256Hex, unseal } from "../security/secrets.js";
import { deleteOldFlashes, insertFlash, takeFlashRows } from "../db/flashes.js";
import { authenticatePassword, canonicalId } from "./users.js";
import type { Client, Principal, Services } from "./context.js";
import { recordAuditEvent } from "../events/audit-trail.js";

/** `last_seen_at` is written at most this often per session (idle expiry is that coarse). */
const TOUCH_INTERVAL_MS = 60_000;

/** A session secret is 43 base64url characters; anything else is not looked up. */
const SESSION_SECRET = /^[A-Za-z0-9_-]{43}$/;

/** Who a valid session belongs to, as a page shows them. */
export interface SessionUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

/** A session resolved from its cookie: the caller, their user, and the CSRF token its forms carry. */
export interface ActiveSession {
  principal: Principal & { sessionId: string };
  user: SessionUser;
  csrfToken: string;
  /** Seals this session's flashes (derived from the cookie's secret; never stored). */
  flashKey: Buffer;
  /** How the session was opened. */
  signInMethod: SignInMethod;
}

/** A session as the Account page lists it. */
export interface SessionView {
  id: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  client_address: string | null;
  user_agent: string | null;
  current: boolean;
}

/**
 * Email and password for a new browser session. Failures are the same 401 `credentials_invalid`
 * as `POST /auth/token` (and counted by the same rate limits in the route). Returns the raw
 * secret for the cookie: only its SHA-256 is stored.
 */
export async function signIn(s: Services, email: string, password: string, client: Client): Promise<{ secret: string; expiresAt: Date }> {
  const user = await authenticatePassword(s, email, password, { method: "password", client });
  const secret = generateSessionSecret();
  const now = s.clock();
  const expiresAt = new Date(now.getTime() + s.config.sessionMaxHours * 3_600_000);
  const row: SessionRow = {
    id: crypto.randomUUID(),
    user_id: user.id,
    secret_hash: sha256Hex(secret),
    created_at: now.toISOString(),
    last_seen_at: now.toISOString(),
    expires_at: expiresAt.toISOString(),
    revoked_at: null,
    client_address: client.address?.slice(0, 64) ?? null,
    user_agent: client.userAgent?.slice(0, 300) ?? null,
  };
  await s.db.transaction(async (trx) => {
    await insertSession(trx, row);
    const actor: Principal = { kind: "session", userId: user.id, role: user.role, scopes: new Set(), sessionId: row.id, client };
    await recordAuditEvent(trx, s, { type: "auth.signed_in", actor, userId: user.id, data: { method: "password", session_id: row.id } });
  });
  return { secret, expiresAt };
}

/**
 * Opens a browser session for a user who proved who they are some other way (single sign-on), in
 * the caller's transaction. Returns the raw secret for the cookie and the session's id.
 */
export async function openSession(db: Knex, s: Services, userId: string, client: Client, method: SignInMethod): Promise<{ id: string; secret: string }> {
  const secret = generateSessionSecret();
  const now = s.clock();
  const id = crypto.randomUUID();
  await insertSession(db, {
    id,
    user_id: userId,
    secret_hash: sha256Hex(secret),
    created_at: now.toISOString(),
    last_seen_at: now.toISOString(),
    expires_at: new Date(now.getTime() + s.config.sessionMaxHours * 3_600_000).toISOString(),
    revoked_at: null,
    client_address: client.address?.slice(0, 64) ?? null,
    user_agent: client.userAgent?.slice(0, 300) ?? null,
    sign_in_method: method,
  });
  return { id, secret };
}

/**
 * Resolves a session cookie's secret. One SHA-256 and one indexed lookup; the session must be
 * unrevoked, within its absolute expiry and its idle time, and its user enabled (a disabled user's
 * sessions stop at once, as their tokens do). The role is read on every request, so a change of
 * role applies immediately.
 */
export async function resolveSession(s: Services, secret: string): Promise<ActiveSession> {
  const row = SESSION_SECRET.test(secret) ? await findSessionWithUser(s.db, sha256Hex(secret)) : undefined;
  const now = s.clock();
  if (!row || row.revoked_at !== null || bool(row.u_disabled)) throw new Unauthorized("session_invalid", "Not signed in, or signed out");
  const idleEnd = Date.parse(row.last_seen_at) + s.config.sessionIdleMinutes * 60_000;
  if (row.expires_at <= now.toISOString() || idleEnd <= now.getTime()) throw new Unauthorized("session_invalid", "The session has expired; sign in again");
  if (now.getTime() - Date.parse(row.last_seen_at) > TOUCH_INTERVAL_MS) await touchSession(s.db, row.id, now.toISOString());
  const role = row.u_role as Role;
  return {
    principal: { kind: "session", userId: row.user_id, role, scopes: grantedScopes(role, null), sessionId: row.id },
    user: { id: row.user_id, email: row.u_email, name: row.u_name, role },
    csrfToken: csrfTokenFor(secret),
    flashKey: flashKeyFor(secret),
    signInMethod: row.sign_in_method ?? "password",
  };
}

/** Signs the caller's session out: revoked in the database, so the cookie is worthless everywhere. */
export async function signOut(s: Services, user: Principal): Promise<void> {
  const sessionId = user.sessionId;
  if (!sessionId) return;
  await s.db.transaction(async (trx) => {
    if (await revokeSessionRow(trx, user.userId, sessionId, s.clock().toISOString())) {
      await recordAuditEvent(trx, s, { type: "auth.signed_out", actor: user, userId: user.userId, data: { session_id: sessionId } });
    }
  });
}

/** The caller's live sessions, newest first, the current one marked. */
export async function listSessions(s: Services, user: Principal): Promise<SessionView[]> {
  const now = s.clock();
  const idleMs = s.config.sessionIdleMinutes * 60_000;
  return (await listLiveSessions(s.db, user.userId, now.toISOString()))
    .filter((r) => Date.parse(r.last_seen_at) + idleMs > now.getTime())
    .map((r) => ({
      id: r.id,
      created_at: r.created_at,
      last_seen_at: r.last_seen_at,
      expires_at: r.expires_at,
      client_address: r.client_address,
      user_agent: r.user_agent,
      current: r.id === user.sessionId,
    }));
}

/** Signs out one of the caller's sessions (another browser, say). */
export async function revokeSession(s: Services, user: Principal, id: string): Promise<void> {
  const sessionId = canonicalId(id);
  await s.db.transaction(async (trx) => {
    if (!(await revokeSessionRow(trx, user.userId, sessionId, s.clock().toISOString()))) throw new NotFound("not_found", "Session not found");
    // Signed out from another of the user's browsers (the Account page).
    await recordAuditEvent(trx, s, { type: "auth.signed_out", actor: user, userId: user.userId, data: { session_id: sessionId, from_session_id: user.sessionId ?? null } });
  });
}

/** Flashes nobody came to see are deleted after this long (the sweeper). */
const FLASH_MAX_AGE_MS = 3_600_000;

/**
 * Deletes the rows of sessions that ended more than a day ago, flashes older than an hour and
 * expired single sign-ons under way (the sweeper calls this).
 */
export async function purgeEndedSessions(s: Services): Promise<number> {
  const now = s.clock().getTime();
  await deleteOldFlashes(s.db, new Date(now - FLASH_MAX_AGE_MS).toISOString());
  // Single sign-ons started and never finished.
  await deleteExpiredSsoSignIns(s.db, new Date(now).toISOString());
  return deleteEndedSessions(s.db, new Date(now - 86_400_000).toISOString());
}

/**
 * Keeps something for the session's next page, shown once (post/redirect/get: a form's answer
 * is a redirect, and the page it leads to shows the new secret). Stored in the database, so any
 * server process may answer the redirect; sealed under the session's key.
 */
export async function putFlash(s: Services, session: ActiveSession, kind: string, value: unknown): Promise<void> {
  await insertFlash(s.db, {
    id: crypto.randomUUID(),
    session_id: session.principal.sessionId,
    kind,
    sealed: seal(session.flashKey, JSON.stringify(value)),
    created_at: s.clock().toISOString(),
  });
}

/** Takes the session's flashes of this kind (each is shown once), oldest first. */
export async function takeFlashes(s: Services, session: ActiveSession, kind: string): Promise<unknown[]> {
  const rows = await takeFlashRows(s.db, session.principal.sessionId, kind);
  return rows.map((r) => JSON.parse(unseal(session.flashKey, r.sealed)) as unknown);
}
