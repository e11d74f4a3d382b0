import crypto from "node:crypto";
import type { components } from "../generated/api.js";
import { Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed } from "../errors.js";
import { bool, isUniqueViolation } from "../db/knex.js";
import { countUsers, findUserByEmail, findUserById, insertUser, listUserRows, updateUserRow, type UserRow } from "../db/users.js";
import { revokeUserSessions } from "../db/sessions.js";
import { deleteUserResetTokens } from "../db/password-reset-tokens.js";
import { dummyPasswordHash, hashPassword, hasPassword, verifyPassword } from "../security/passwords.js";
import { cleanText } from "./text.js";
import { nowIso, type Client, type Principal, type Services } from "./context.js";
import { recordAuditEvent } from "../events/audit-trail.js";
import { authorize } from "../policies/index.js";

type Schemas = components["schemas"];
export type User = Schemas["User"];
export type UserCreateRequest = Schemas["UserCreateRequest"];
export type UserUpdateRequest = Schemas["UserUpdateRequest"];

export function toUser(row: UserRow): User {
  return { id: row.id, email: row.email, name: row.name, role: row.role, disabled: bool(row.disabled), created_at: row.created_at };
}

/**
 * UUIDs are case-insensitive, but SQLite compares the stored lower-case text while PostgreSQL's
 * uuid type ignores case; comparing ids in one canonical form keeps both databases (and checks
 * such as "is this the caller?") in agreement.
 */
export function canonicalId(id: string): string {
  return id.toLowerCase();
}

/** `GET /me`. */
export async function getMe(s: Services, user: Principal): Promise<User> {
  if (user.profile) return user.profile;
  const row = await findUserById(s.db, user.userId);
  if (!row) throw new NotFound("user_not_found", "User not found");
  return toUser(row);
}

/**
 * `POST /admin/users`. Needs only the database and the clock, so `create-admin` can call it
 * without a running server. Recorded as `user.created` by `actor` (null: the server itself, as
 * `create-admin` and the first start).
 */
export async function createUser(s: Pick<Services, "db" | "clock">, input: UserCreateRequest, actor: Principal | null = null): Promise<User> {
  const now = nowIso(s.clock);
  const email = input.email.trim().toLowerCase();
  const name = cleanText(input.name, "/body/name") || email;
  // Checked before hashing, so a duplicate costs no scrypt run.
  if (await findUserByEmail(s.db, email)) throw new Conflict("email_taken", "A user with this email already exists");
  const row: UserRow = {
    id: crypto.randomUUID(),
    email,
    name,
    role: input.role ?? "user",
    password_hash: await hashPassword(input.password),
    disabled: false,
    created_at: now,
    updated_at: now,
  };
  try {
    await s.db.transaction(async (trx) => {
      await insertUser(trx, row);
      await recordAuditEvent(trx, s, { type: "user.created", actor, userId: row.id, data: { email, name, role: row.role } });
    });
  } catch (err) {
    // Two concurrent creates can both pass the check above; the unique index decides.
    if (isUniqueViolation(err)) throw new Conflict("email_taken", "A user with this email already exists");
    throw err;
  }
  return toUser(row);
}

/** `PATCH /admin/users/{id}`. */
export async function updateUser(s: Services, actor: Principal, rawId: string, input: UserUpdateRequest): Promise<User> {
  const id = canonicalId(rawId);
  authorize(actor, "user.update", { id });
  const existing = await findUserById(s.db, id);
  if (!existing) throw new NotFound("user_not_found", "User not found");
  if (id === actor.userId && (input.disabled === true || input.role === "user")) {
    throw new ValidationFailed("You cannot disable or demote yourself", input.disabled ? "/body/disabled" : "/body/role");
  }
  const patch: Partial<UserRow> = { updated_at: nowIso(s.clock) };
  if (input.name !== undefined) {
    patch.name = cleanText(input.name, "/body/name");
    if (patch.name === "") throw new ValidationFailed("Name must not be blank", "/body/name");
  }
  if (input.role !== undefined) patch.role = input.role;
  if (input.disabled !== undefined) patch.disabled = input.disabled;
  if (input.password !== undefined) patch.password_hash = await hashPassword(input.password);
  await s.db.transaction(async (trx) => {
    await updateUserRow(trx, id, patch);
    // A password set by an admin (a reset) ends the user's browser sessions; so does disabling,
    // which would stop them anyway, so re-enabling does not bring old sessions back.
    if (input.password !== undefined || input.disabled === true) await revokeUserSessions(trx, id, patch.updated_at!);
    // A new password makes any password reset link still out there pointless: it stops working.
    if (input.password !== undefined) await deleteUserResetTokens(trx, id);
    await recordUserUpdate(trx, s, actor, existing, patch);
  });
  return toUser({ ...existing, ...patch });
}

/** The answer to a password sign-in or change while SF_PASSWORD_LOGIN=false: how to do without. */
export function passwordLoginDisabled(): Forbidden {
  return new Forbidden(
    "password_login_disabled",
    "Password sign-in is turned off on this server (it uses single sign-on): sign in on the web, create a token under Account → API tokens, and use it (sf login --with-token)",
  );
}

/** Whether the user has a password to change (accounts made by single sign-on have none) and passwords are in use. */
export async function usesPassword(s: Services, user: Principal): Promise<boolean> {
  if (!s.config.passwordLogin) return false;
  const row = await findUserById(s.db, user.userId);
  return !!row && hasPassword(row.password_hash);
}

/**
 * The audit trail of an admin's change to a user: `user.disabled` or `user.enabled` when that
 * flipped, `user.updated` with the other fields that changed (`{from, to}`; a new password only
 * as `true`). A change to nothing records nothing.
 */
async function recordUserUpdate(trx: Services["db"], s: Services, actor: Principal, before: UserRow, patch: Partial<UserRow>): Promise<void> {
  const about = { actor, userId: before.id };
  const changes: Record<string, unknown> = {};
  if (patch.name !== undefined && patch.name !== before.name) changes.name = { from: before.name, to: patch.name };
  if (patch.role !== undefined && patch.role !== before.role) changes.role = { from: before.role, to: patch.role };
  if (patch.password_hash !== undefined) changes.password = true;
  if (Object.keys(changes).length > 0) await recordAuditEvent(trx, s, { ...about, type: "user.updated", data: { email: before.email, changes } });
  if (patch.disabled !== undefined && patch.disabled !== bool(before.disabled)) {
    await recordAuditEvent(trx, s, { ...about, type: patch.disabled ? "user.disabled" : "user.enabled", data: { email: before.email } });
  }
}

/** The shortest and longest password accepted (the `Password` schema of openapi.yaml). */
export const PASSWORD_LENGTH = { min: 8, max: 1024 } as const;

/**
 * A user changes their own password (the Account page): the current one first, then the new
 * one is stored and every other browser session of theirs ends. API tokens stay: they are
 * separate credentials with their own revocation.
 */
export async function changePassword(s: Services, user: Principal, current: string, next: string): Promise<void> {
  if (!s.config.passwordLogin) throw passwordLoginDisabled();
  const row = await findUserById(s.db, user.userId);
  if (!row) throw new NotFound("user_not_found", "User not found");
  if (!(await verifyPassword(current, row.password_hash))) throw new Unauthorized("credentials_invalid", "The current password is wrong");
  if (next.length < PASSWORD_LENGTH.min || next.length > PASSWORD_LENGTH.max) {
    throw new ValidationFailed(`The new password must be ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters long`, "/body/new_password");
  }
  const hash = await hashPassword(next);
  const now = nowIso(s.clock);
  await s.db.transaction(async (trx) => {
    await updateUserRow(trx, user.userId, { password_hash: hash, updated_at: now });
    await revokeUserSessions(trx, user.userId, now, user.sessionId);
    await deleteUserResetTokens(trx, user.userId);
  });
}

/** `GET /admin/users`. */
export async function listUsers(s: Services, opts: { page: number; perPage: number; q?: string | undefined }): Promise<Schemas["UserList"]> {
  const q = opts.q === undefined ? undefined : cleanText(opts.q, "/query/q");
  const { rows, total } = await listUserRows(s.db, { ...(q ? { q } : {}), limit: opts.perPage, offset: (opts.page - 1) * opts.perPage });
  return { items: rows.map(toUser), total, page: opts.page, per_page: opts.perPage };
}

/**
 * Checks an email and password. Unknown email, wrong password and disabled account all end in the
 * same 401 after one scrypt computation, so neither the answer nor its timing says which it was.
 */
export async function authenticatePassword(s: Services, email: string, password: string, attempt: SignInAttempt): Promise<UserRow> {
  const tried = signInEmail(email);
  const user = await findUserByEmail(s.db, tried);
  // An account without a password (made by single sign-on) costs the same check as any other.
  const stored = user && hasPassword(user.password_hash) ? user.password_hash : await dummyPasswordHash();
  const ok = (await verifyPassword(password, stored)) && !!user && hasPassword(user.password_hash);
  if (!user || !ok || bool(user.disabled)) {
    // Recorded whether or not the account exists (the same work either way); never the password.
    await recordAuditEvent(s.db, s, {
      type: "auth.sign_in_failed",
      actor: null,
      client: attempt.client,
      userId: user?.id ?? null,
      data: { method: attempt.method, email: tried },
    });
    throw new Unauthorized("credentials_invalid", "Wrong email or password");
  }
  return user;
}

/** How a password sign-in is made (the audit trail's `method`) and from where. */
export interface SignInAttempt {
  /** `password`: the web sign-in form; `token_login`: `POST /auth/token` (`sf login`). */
  method: "password" | "token_login";
  client: Client | undefined;
}

/**
 * An email as signing in reads it: at most 254 characters (the longest address), trimmed, in
 * lower case. The one reading, for the password check and the per-account login limit alike.
 */
export function signInEmail(raw: string): string {
  return raw.slice(0, 254).trim().toLowerCase();
}

/**
 * What the per-account login limit counts failures under: the account the email reaches, by its
 * id, however the email was spelled (case, spaces, a tail that the cut drops); an email that
 * reaches no account, by its normalized spelling, so an unknown account is limited the same way
 * and the answers tell nothing about which accounts exist.
 */
export async function loginAccountKey(s: Services, rawEmail: string): Promise<string> {
  const email = signInEmail(rawEmail);
  const user = email === "" ? undefined : await findUserByEmail(s.db, email);
  return user ? `user:${user.id}` : `email:${email}`;
}

/**
 * On an empty database, creates the first admin: from SF_ADMIN_EMAIL/SF_ADMIN_PASSWORD when set,
 * otherwise `admin@localhost` with a random password that is returned (to be printed once).
 */
export async function ensureFirstAdmin(s: Services): Promise<{ email: string; generatedPassword: string | null } | null> {
  if ((await countUsers(s.db)) > 0) return null;
  const email = s.config.adminEmail ?? "admin@localhost";
  const generatedPassword = s.config.adminPassword ? null : crypto.randomBytes(18).toString("base64url");
  try {
    await createUser(s, { email, name: "Administrator", password: s.config.adminPassword ?? generatedPassword!, role: "admin" });
  } catch (err) {
    // Several processes started together on one database: another one created it first.
    if (err instanceof Conflict) return null;
    throw err;
  }
  return { email, generatedPassword };
}
