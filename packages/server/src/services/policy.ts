import crypto from "node:crypto";
import type { Knex } from "knex";
import type { components } from "../generated/api.js";
import { ApiError, NotFound } from "../errors.js";
import { lockInstancePolicy, readInstancePolicy, writeInstancePolicy, type InstancePolicyRow } from "../db/instance-policy.js";
import { insertAuditEvent } from "../db/audit-events.js";
import { findUserById, type Role } from "../db/users.js";
import { heldBytes } from "../db/quota.js";
import {
  EMPTY_POLICY,
  effectiveRules,
  normalOverrides,
  normalRules,
  policyProblems,
  type EffectiveRules,
  type InstancePolicy,
  type PolicyUpdate,
} from "../policies/instance-rules.js";
import { nowIso, type Client, type Principal, type Services } from "./context.js";

type Schemas = components["schemas"];

/**
 * The instance's policy: one row, read through a cache per process. A change made by this process
 * is seen at once; one made by another process (several servers on one PostgreSQL) within
 * CACHE_MS, when the cache is read again. The rules are enforced by the services that act
 * (packages, files, uploads) through policies/instance-rules.ts.
 */

/** How long a process trusts the policy it read (real time, not the services' clock). */
export const POLICY_CACHE_MS = 1000;

const cache = new WeakMap<Knex, { at: number; policy: Promise<InstancePolicy> }>();

function fromRow(row: InstancePolicyRow | undefined): InstancePolicy {
  if (!row) return EMPTY_POLICY;
  const roles = JSON.parse(row.roles) as Partial<InstancePolicy["roles"]>;
  return {
    rules: normalRules(JSON.parse(row.rules) as EffectiveRules),
    roles: { user: normalOverrides(roles.user), admin: normalOverrides(roles.admin) },
    updated_at: row.updated_at,
    updated_by: row.updated_by,
  };
}

/**
 * The instance's policy (cached). Never call it inside a transaction of `s.db`: on SQLite the
 * one connection is the transaction's, and this read would wait for it. Read first, then act.
 */
export function instancePolicy(s: Services): Promise<InstancePolicy> {
  const hit = cache.get(s.db);
  const now = performance.now();
  if (hit && now - hit.at < POLICY_CACHE_MS) return hit.policy;
  const policy = readInstancePolicy(s.db).then(fromRow);
  cache.set(s.db, { at: now, policy });
  // A failed read is not kept: the next caller tries again.
  policy.catch(() => cache.delete(s.db));
  return policy;
}

/** The rules for users of `role`. */
export async function rulesForRole(s: Services, role: Role): Promise<EffectiveRules> {
  return effectiveRules(await instancePolicy(s), role);
}

/** The rules for a user known by id (a package's owner, when a recipient uploads to it). */
export async function rulesForUser(s: Services, userId: string): Promise<EffectiveRules> {
  const row = await findUserById(s.db, userId);
  if (!row) throw new NotFound("user_not_found", "User not found");
  return rulesForRole(s, row.role);
}

function toPolicy(p: InstancePolicy): Schemas["Policy"] {
  return { rules: p.rules, roles: p.roles, updated_at: p.updated_at, updated_by: p.updated_by };
}

/** `GET /admin/policy` (the `admin` scope is checked by the router). */
export async function getPolicy(s: Services): Promise<Schemas["Policy"]> {
  return toPolicy(fromRow(await readInstancePolicy(s.db)));
}

/** The admin's email as it is now (for `updated_by`). */
async function emailOf(s: Services, admin: Principal): Promise<string | null> {
  if (admin.profile) return admin.profile.email;
  return (await findUserById(s.db, admin.userId))?.email ?? null;
}

/**
 * `PUT /admin/policy`: replaces the whole policy (a rule left out is no rule), refused with 422
 * and every contradiction in `errors[]`; recorded as a `policy.updated` audit event with the
 * policy before and after, in the same transaction.
 */
export async function putPolicy(s: Services, admin: Principal, input: PolicyUpdate, client?: Client): Promise<Schemas["Policy"]> {
  const next: InstancePolicy = {
    rules: normalRules(input),
    roles: { user: normalOverrides(input.roles?.user), admin: normalOverrides(input.roles?.admin) },
    updated_at: nowIso(s.clock),
    updated_by: await emailOf(s, admin),
  };
  const problems = policyProblems(next, s.config.maxTtlDays);
  if (problems.length > 0) {
    throw new ApiError(422, "validation_failed", problems.map((p) => p.message).join("; "), { errors: problems });
  }
  await s.db.transaction(async (trx) => {
    const before = fromRow(await lockInstancePolicy(trx));
    await writeInstancePolicy(trx, {
      rules: JSON.stringify(next.rules),
      roles: JSON.stringify(next.roles),
      updated_at: next.updated_at!,
      updated_by: next.updated_by,
    });
    await insertAuditEvent(trx, {
      id: crypto.randomUUID(),
      type: "policy.updated",
      actor_user_id: admin.userId,
      subject_id: null,
      data: JSON.stringify({ before: { rules: before.rules, roles: before.roles }, after: { rules: next.rules, roles: next.roles } }),
      client_address: client?.address?.slice(0, 100) ?? null,
      user_agent: client?.userAgent?.slice(0, 500) ?? null,
      created_at: next.updated_at!,
    });
  });
  cache.set(s.db, { at: performance.now(), policy: Promise.resolve(next) });
  return toPolicy(next);
}

/** The bytes a user holds against the quota now (draft and active packages, uploads under way). */
export async function quotaUsed(s: Services, userId: string): Promise<number> {
  return heldBytes(s.db, userId, nowIso(s.clock));
}

/** `GET /me/policy`: the caller's rules and what they hold against their quota. */
export async function getMyPolicy(s: Services, user: Principal): Promise<Schemas["EffectivePolicy"]> {
  const [rules, used] = await Promise.all([rulesForRole(s, user.role), quotaUsed(s, user.userId)]);
  return { rules, quota_used_bytes: used };
}

/** The limits a user works within, for the pages: their rules, what they hold, and the server's limits folded in. */
export interface Limits {
  rules: EffectiveRules;
  quotaUsedBytes: number | null;
  maxFileBytes: number;
  maxTtlDays: number;
}

/** `rules` with the server's own limits (SF_MAX_FILE_BYTES, SF_MAX_TTL_DAYS) folded in. */
export function limitsOf(s: Services, rules: EffectiveRules, quotaUsedBytes: number | null): Limits {
  return {
    rules,
    quotaUsedBytes,
    maxFileBytes: Math.min(s.config.maxFileBytes, rules.max_file_bytes ?? Number.POSITIVE_INFINITY),
    maxTtlDays: Math.min(s.config.maxTtlDays, rules.max_ttl_days ?? Number.POSITIVE_INFINITY),
  };
}

/** The caller's limits (new-package page, a draft's uploader). */
export async function myLimits(s: Services, user: Principal): Promise<Limits> {
  const mine = await getMyPolicy(s, user);
  return limitsOf(s, mine.rules, mine.quota_used_bytes);
}

/** What each role works within, as the admin's page previews it (no one user's usage). */
export async function roleLimits(s: Services): Promise<Record<Role, Limits>> {
  const p = await instancePolicy(s);
  return { user: limitsOf(s, effectiveRules(p, "user"), null), admin: limitsOf(s, effectiveRules(p, "admin"), null) };
}

/** The largest file an inbound link of this owner's takes (their policy's, or the server's). */
export async function linkUploadMaxBytes(s: Services, ownerId: string): Promise<number> {
  return limitsOf(s, await rulesForUser(s, ownerId), null).maxFileBytes;
}
