import crypto from "node:crypto";
import type { Knex } from "knex";
import type { SsoConfig } from "../config.js";
import type { AuditEventType } from "../db/audit-events.js";
import { recordAuditEvent } from "../events/audit-trail.js";
import { bool, isUniqueViolation } from "../db/knex.js";
import { countEnabledAdmins, findUserByEmail, insertUser, updateUserRow, type Role, type UserRow } from "../db/users.js";
import { NO_PASSWORD } from "../security/passwords.js";
import { inAdminGroup, type SsoIdentity } from "../sso/claims.js";
import { FORBIDDEN_IN_LINE } from "../util/forbidden-characters.js";
import { openSession } from "./sessions.js";
import { nowIso, type Client, type Services } from "./context.js";

/** Why an identity the provider vouched for still may not sign in here. */
export type AccountRefusal = "no_account" | "account_disabled";

export class AccountRefused extends Error {
  constructor(
    readonly reason: AccountRefusal,
    /** The account it is about, when there is one. */
    readonly userId: string | null,
  ) {
    super(reason);
  }
}

/** Writes one row of the instance's audit trail (never a secret in `data`). */
export async function auditSso(
  db: Knex,
  s: Services,
  e: { type: AuditEventType; actor: string | null; subject: string | null; data: Record<string, unknown>; client: Client },
): Promise<void> {
  await recordAuditEvent(db, s, { type: e.type, actor: e.actor === null ? null : { userId: e.actor }, userId: e.subject, client: e.client, data: e.data });
}

/** The role the groups claim gives, or null when roles are not the provider's to set. */
function roleFromGroups(sso: SsoConfig, identity: SsoIdentity): Role | null {
  if (sso.adminGroups.length === 0 || identity.groups === null) return null;
  return inAdminGroup(identity.groups, sso.adminGroups) ? "admin" : "user";
}

/** A display name from the provider, without the characters no name here may hold. */
function displayName(name: string | null, email: string): string {
  const clean = (name ?? "").replace(new RegExp(FORBIDDEN_IN_LINE.source, "gu"), "").trim();
  return clean === "" ? email : clean.slice(0, 200);
}

async function createAccount(trx: Knex, s: Services, identity: SsoIdentity, role: Role | null, client: Client): Promise<UserRow> {
  const now = nowIso(s.clock);
  const user: UserRow = {
    id: crypto.randomUUID(),
    email: identity.email,
    name: displayName(identity.name, identity.email),
    role: role ?? "user",
    password_hash: NO_PASSWORD,
    disabled: false,
    created_at: now,
    updated_at: now,
  };
  await insertUser(trx, user);
  await auditSso(trx, s, { type: "user.created", actor: user.id, subject: user.id, data: { via: "sso", email: user.email, role: user.role }, client });
  return user;
}

/**
 * Applies the groups claim to an existing account's role. Never demotes the last enabled admin
 * (decision 0004's rule, kept when the provider's groups are misconfigured): that sign-in keeps
 * the role and the log says why.
 */
async function applyRole(trx: Knex, s: Services, user: UserRow, role: Role | null, client: Client): Promise<void> {
  if (role === null || role === user.role) return;
  if (role === "user" && (await countEnabledAdmins(trx)) <= 1) {
    s.logger.warn({ userId: user.id }, "single sign-on: the groups claim would demote the last admin; the account stays an admin");
    return;
  }
  await updateUserRow(trx, user.id, { role, updated_at: nowIso(s.clock) });
  await auditSso(trx, s, { type: "user.updated", actor: user.id, subject: user.id, data: { via: "sso", role: { from: user.role, to: role } }, client });
  user.role = role;
}

/**
 * Signs in the person the provider vouched for: the account with their email (compared in lower
 * case), made now if there is none and SF_SSO_CREATE_USERS allows it, its role set from the groups
 * claim when admin groups are configured, and a new browser session. One transaction: the account,
 * its role, the session and their audit rows commit together or not at all.
 */
export async function signInIdentity(s: Services, sso: SsoConfig, identity: SsoIdentity, client: Client): Promise<{ userId: string; secret: string }> {
  const role = roleFromGroups(sso, identity);
  for (let attempt = 0; ; attempt++) {
    try {
      return await s.db.transaction(async (trx) => {
        let user = await findUserByEmail(trx, identity.email);
        if (!user) {
          if (!sso.createUsers) throw new AccountRefused("no_account", null);
          user = await createAccount(trx, s, identity, role, client);
        } else {
          if (bool(user.disabled)) throw new AccountRefused("account_disabled", user.id);
          await applyRole(trx, s, user, role, client);
        }
        const session = await openSession(trx, s, user.id, client, "sso");
        await auditSso(trx, s, { type: "auth.signed_in", actor: user.id, subject: user.id, data: { method: "sso", session_id: session.id }, client });
        return { userId: user.id, secret: session.secret };
      });
    } catch (err) {
      // The same person's first sign-in in two tabs at once: the second finds the first's account.
      if (attempt === 0 && isUniqueViolation(err)) continue;
      throw err;
    }
  }
}
