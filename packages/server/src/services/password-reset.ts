import crypto from "node:crypto";
import type { Knex } from "knex";
import type { components } from "../generated/api.js";
import { Forbidden, NotFound, ValidationFailed } from "../errors.js";
import { bool } from "../db/knex.js";
import { findUserByEmail, findUserById, lockUser, updateUserRow, type UserRow } from "../db/users.js";
import { revokeUserSessions } from "../db/sessions.js";
import { revokeUserTokens } from "../db/tokens.js";
import { consumeResetToken, deleteExpiredResetTokens, deleteUserResetTokens, findResetToken, insertResetToken, type ResetReason } from "../db/password-reset-tokens.js";
import type { AuditEventType } from "../db/audit-events.js";
import { recordAuditEvent } from "../events/audit-trail.js";
import { emit } from "../events/emit.js";
import { authorize } from "../policies/index.js";
import { hashPassword, hasPassword } from "../security/passwords.js";
import { generateResetToken, RESET_TOKEN_PATTERN, sha256Hex } from "../security/secrets.js";
import type { Client, Principal, Services } from "./context.js";
import { canonicalId, PASSWORD_LENGTH, signInEmail } from "./users.js";

type ForceInput = components["schemas"]["ForcePasswordResetRequest"];

/** 403 `password_login_disabled` when passwords are turned off (SF_PASSWORD_LOGIN=false): nothing to reset. */
function requirePasswordLogin(s: Services): void {
  if (!s.config.passwordLogin) {
    throw new Forbidden("password_login_disabled", "Password sign-in is turned off on this server: sign in through single sign-on");
  }
}

const invalidToken = () =>
  new ValidationFailed("This password reset link is unknown, already used, replaced by a newer one or expired: ask for a new one", "/body/token", "reset_token_invalid");

/** Requests accepted and still being handled, per server (tests wait for them; see requestPasswordReset). */
const pending = new WeakMap<Services, Set<Promise<void>>>();

/** Resolves once every reset request this process accepted so far has been handled. */
export async function resetRequestsSettled(s: Services): Promise<void> {
  await Promise.all([...(pending.get(s) ?? [])]);
}

/**
 * `POST /auth/password-reset`: answers at once with the same sentence whatever the address, and
 * handles the request after the answer. So the answer and its timing are the same whether the
 * address has an account, a disabled one, one without a password (single sign-on only) or none:
 * the only work before it (validation, the rate limits keyed by the address) does not depend on
 * which. The rows and the queued email are written right after, in one transaction.
 */
export function requestPasswordReset(s: Services, rawEmail: string, client: Client): string {
  requirePasswordLogin(s);
  const email = signInEmail(rawEmail);
  const work = handleRequest(s, email, client).catch((err: unknown) => s.logger.error({ err }, "a password reset request failed"));
  let set = pending.get(s);
  if (!set) pending.set(s, (set = new Set()));
  set.add(work);
  void work.finally(() => set.delete(work));
  return `If ${email} has an account, a link to choose a new password is on its way.`;
}

async function handleRequest(s: Services, email: string, client: Client): Promise<void> {
  const now = s.clock();
  await deleteExpiredResetTokens(s.db, now.toISOString());
  const user = email === "" ? undefined : await findUserByEmail(s.db, email);
  if (!user) return;
  // Recorded for the admin, mailed only to an account that can use it.
  const refused = bool(user.disabled) ? "disabled" : hasPassword(user.password_hash) ? null : "no_password";
  await s.db.transaction(async (trx) => {
    if (!refused) await issueResetToken(trx, s, user, "requested", now);
    await audit(trx, s, { type: "password_reset.requested", actor: null, subject: user.id, data: refused ? { mailed: false, reason: refused } : { mailed: true }, client });
  });
}

/**
 * A new reset token for `user`, replacing any older one (its queued email is cancelled too), and
 * its email queued in the same transaction. The token is in the email only; its hash is stored.
 */
async function issueResetToken(trx: Knex, s: Services, user: UserRow, reason: ResetReason, now: Date): Promise<void> {
  // Two requests at once for one account: the second waits, then replaces the first one's token.
  await lockUser(trx, user.id);
  await deleteUserResetTokens(trx, user.id);
  const secret = generateResetToken();
  const expiresAt = new Date(now.getTime() + s.config.passwordResetMinutes * 60_000).toISOString();
  await insertResetToken(trx, {
    id: crypto.randomUUID(),
    user_id: user.id,
    token_hash: sha256Hex(secret),
    reason,
    created_at: now.toISOString(),
    expires_at: expiresAt,
  });
  await emit(trx, s, { type: "password_reset.mail", user: { email: user.email, name: user.name }, secret, expiresAt, forced: reason === "forced" });
}

/**
 * `POST /auth/password-reset/confirm`: sets the password of the token's account and uses the
 * token up (once: two confirmations at once, one wins), then ends every web session of the
 * account. API tokens stay: they are separate credentials with their own revocation. An unknown,
 * used, replaced or expired token, or one of a disabled account, is the same 422.
 */
export async function confirmPasswordReset(s: Services, token: string, password: string, client: Client): Promise<void> {
  requirePasswordLogin(s);
  const row = RESET_TOKEN_PATTERN.test(token) ? await findResetToken(s.db, sha256Hex(token)) : undefined;
  if (!row || row.expires_at <= s.clock().toISOString() || bool(row.u_disabled)) throw invalidToken();
  if (password.length < PASSWORD_LENGTH.min || password.length > PASSWORD_LENGTH.max) {
    throw new ValidationFailed(`The new password must be ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters long`, "/body/password");
  }
  // Hashed before the transaction (scrypt takes a while), and only for a token that looked valid.
  const hash = await hashPassword(password);
  const now = s.clock().toISOString();
  await s.db.transaction(async (trx) => {
    if (!(await consumeResetToken(trx, row.id, now))) throw invalidToken();
    await updateUserRow(trx, row.user_id, { password_hash: hash, updated_at: now });
    await deleteUserResetTokens(trx, row.user_id);
    const sessionsEnded = await revokeUserSessions(trx, row.user_id, now);
    await audit(trx, s, { type: "password_reset.completed", actor: row.user_id, subject: row.user_id, data: { reason: row.reason, sessions_ended: sessionsEnded }, client });
  });
}

/**
 * `POST /admin/users/{id}/password-reset`: the user's password stops working at once (replaced by
 * the hash of a random one nobody knows), their web sessions end, with `revoke_tokens` their API
 * tokens too, and they are emailed a reset link (not when disabled: they could not use it).
 * Returns the sentence of the answer.
 */
export async function forcePasswordReset(s: Services, actor: Principal, rawId: string, input: ForceInput, client: Client): Promise<string> {
  const id = canonicalId(rawId);
  authorize(actor, "user.reset_password", { id });
  requirePasswordLogin(s);
  if (id === actor.userId) throw new ValidationFailed("You cannot force a reset of your own password: change it on your Account page", "/path/id");
  const user = await findUserById(s.db, id);
  if (!user) throw new NotFound("user_not_found", "User not found");
  if (!hasPassword(user.password_hash)) throw new ValidationFailed("This user has no password to reset: they sign in through single sign-on", "/path/id");
  const unusable = await hashPassword(crypto.randomBytes(32).toString("base64url"));
  const now = s.clock();
  const at = now.toISOString();
  const mailed = !bool(user.disabled);
  const revokeTokens = input.revoke_tokens === true;
  await s.db.transaction(async (trx) => {
    await updateUserRow(trx, id, { password_hash: unusable, updated_at: at });
    const sessionsEnded = await revokeUserSessions(trx, id, at);
    const tokensRevoked = revokeTokens ? await revokeUserTokens(trx, id, at) : 0;
    if (mailed) await issueResetToken(trx, s, user, "forced", now);
    else await deleteUserResetTokens(trx, id);
    await audit(trx, s, {
      type: "user.password_reset_forced",
      actor: actor.userId,
      subject: id,
      data: { revoke_tokens: revokeTokens, tokens_revoked: tokensRevoked, sessions_ended: sessionsEnded, mailed },
      client,
    });
  });
  const tokens = revokeTokens ? " and API tokens revoked" : "";
  return mailed
    ? `The password of ${user.email} no longer works, their web sessions ended${tokens}; a link to choose a new one is on its way to them.`
    : `The password of ${user.email} no longer works, their web sessions ended${tokens}; no email was sent, as the account is disabled.`;
}

async function audit(trx: Knex, s: Services, e: { type: AuditEventType; actor: string | null; subject: string; data: Record<string, unknown>; client: Client }): Promise<void> {
  await recordAuditEvent(trx, s, { type: e.type, actor: e.actor === null ? null : { userId: e.actor }, userId: e.subject, client: e.client, data: e.data });
}
