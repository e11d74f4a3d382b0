import type { components } from "../generated/api.js";
import type { Role } from "../db/users.js";
import { PolicyViolation, QuotaExceeded, type FieldError, type PolicyRuleName } from "../errors.js";
import { formatBytes } from "../util/format-bytes.js";
import { allowedDomainsWords, blockedDomainsWords, ENCRYPTION_WORDS, PASSWORD_WORDS, recipientsWords, ttlWords } from "../util/policy-words.js";

/**
 * The instance's rules (an admin's policy): what they are for a role, whether a policy
 * contradicts itself, and the checks services run before they act. Pure: the services read the
 * policy (services/policy.ts) and hand it here. A refusal is 422 `policy_violation` naming the
 * rule and its value; the quota's is `quota_exceeded`.
 */

type Schemas = components["schemas"];
export type PolicyRules = Schemas["PolicyRules"];
export type EffectiveRules = Schemas["EffectiveRules"];
export type PolicyUpdate = Schemas["PolicyUpdateRequest"];

export const RULE_NAMES = [
  "min_ttl_days",
  "max_ttl_days",
  "require_password",
  "require_encryption",
  "allowed_recipient_domains",
  "blocked_recipient_domains",
  "max_file_bytes",
  "max_recipients",
  "quota_bytes_per_user",
] as const satisfies readonly PolicyRuleName[];

const BOOLEAN_RULES = new Set<PolicyRuleName>(["require_password", "require_encryption"]);
const DOMAIN_RULES = new Set<PolicyRuleName>(["allowed_recipient_domains", "blocked_recipient_domains"]);

/** The instance's policy: its rules, each role's overrides (only the rules it replaces), who changed it last. */
export interface InstancePolicy {
  rules: EffectiveRules;
  roles: Record<Role, PolicyRules>;
  updated_at: string | null;
  updated_by: string | null;
}

export const NO_RULES: EffectiveRules = {
  min_ttl_days: null,
  max_ttl_days: null,
  require_password: false,
  require_encryption: false,
  allowed_recipient_domains: null,
  blocked_recipient_domains: null,
  max_file_bytes: null,
  max_recipients: null,
  quota_bytes_per_user: null,
};

export const EMPTY_POLICY: InstancePolicy = { rules: NO_RULES, roles: { user: {}, admin: {} }, updated_at: null, updated_by: null };

type AnyRules = Record<PolicyRuleName, unknown>;

/** A rule's value as stored: domains lower-cased without repeats, a missing boolean false, anything missing null. */
function normalValue(rule: PolicyRuleName, value: unknown): unknown {
  if (BOOLEAN_RULES.has(rule)) return value === true;
  if (value === undefined || value === null) return null;
  if (DOMAIN_RULES.has(rule)) return [...new Set((value as string[]).map((d) => d.toLowerCase()))];
  return value;
}

/** Every rule of `input`, as stored (null = no rule). */
export function normalRules(input: PolicyRules | PolicyUpdate): EffectiveRules {
  const out = {} as AnyRules;
  for (const rule of RULE_NAMES) out[rule] = normalValue(rule, (input as Partial<AnyRules>)[rule]);
  return out as EffectiveRules;
}

/** The rules a role's override names (null included), as stored. */
export function normalOverrides(input: PolicyRules | undefined): PolicyRules {
  const out = {} as Partial<AnyRules>;
  for (const rule of RULE_NAMES) {
    if (input && Object.hasOwn(input, rule)) {
      const v = (input as AnyRules)[rule];
      out[rule] = v === null ? null : normalValue(rule, v);
    }
  }
  return out as PolicyRules;
}

/** The rules for users of `role`: the role's override of a rule (null included) replaces the instance's. */
export function effectiveRules(policy: InstancePolicy, role: Role): EffectiveRules {
  const out = { ...policy.rules } as AnyRules;
  const overrides = (policy.roles[role] ?? {}) as Partial<AnyRules>;
  for (const rule of RULE_NAMES) {
    if (Object.hasOwn(overrides, rule)) out[rule] = normalValue(rule, overrides[rule]);
  }
  return out as EffectiveRules;
}

/** Whether `domain` (lower case) is matched by a policy entry: `acme.com` exactly, `*.acme.com` its subdomains only. */
export function domainMatches(domain: string, entry: string): boolean {
  return entry.startsWith("*.") ? domain.endsWith(entry.slice(1)) : domain === entry;
}

/** Whether every address an allowed entry matches is also matched by a blocked one. */
function covers(blocked: string, allowed: string): boolean {
  if (!blocked.startsWith("*.")) return blocked === allowed;
  const base = allowed.startsWith("*.") ? allowed.slice(2) : allowed;
  return base === blocked.slice(2) ? allowed.startsWith("*.") : base.endsWith(blocked.slice(1));
}

interface Problem {
  rules: PolicyRuleName[];
  message: string;
}

/** The ways one set of rules contradicts itself or the server's own limits. */
function problemsOf(r: EffectiveRules, maxTtlDays: number): Problem[] {
  const out: Problem[] = [];
  if (r.min_ttl_days !== null && r.max_ttl_days !== null && r.min_ttl_days > r.max_ttl_days) {
    out.push({ rules: ["min_ttl_days", "max_ttl_days"], message: `min_ttl_days (${r.min_ttl_days}) is above max_ttl_days (${r.max_ttl_days}): no link could satisfy both` });
  }
  if (r.min_ttl_days !== null && r.min_ttl_days > maxTtlDays) {
    out.push({ rules: ["min_ttl_days"], message: `min_ttl_days (${r.min_ttl_days}) is above this server's SF_MAX_TTL_DAYS (${maxTtlDays}): no package could be created` });
  }
  const allowed = r.allowed_recipient_domains;
  if (allowed !== null && allowed.length === 0) {
    out.push({ rules: ["allowed_recipient_domains"], message: "An empty list of allowed domains would refuse every recipient; use null for no rule" });
  }
  for (const a of allowed ?? []) {
    const b = (r.blocked_recipient_domains ?? []).find((x) => covers(x, a));
    if (b !== undefined) {
      out.push({
        rules: ["blocked_recipient_domains", "allowed_recipient_domains"],
        message: b === a ? `${a} is both allowed and blocked` : `${a} is allowed but ${b} blocks all of it`,
      });
    }
  }
  return out;
}

/**
 * 422's `errors[]` for a policy that contradicts itself, for the instance's rules and for each
 * role's rules once its overrides apply (a role's problem is reported at its override). Empty: fine.
 */
export function policyProblems(policy: InstancePolicy, maxTtlDays: number): FieldError[] {
  const out: FieldError[] = problemsOf(policy.rules, maxTtlDays).map((p) => ({ path: `/body/${p.rules[0]}`, message: p.message }));
  for (const role of ["user", "admin"] as const) {
    const overrides = policy.roles[role];
    for (const p of problemsOf(effectiveRules(policy, role), maxTtlDays)) {
      const own = p.rules.find((rule) => Object.hasOwn(overrides, rule));
      // Only the problems an override brings: the instance's own are reported above.
      if (own) out.push({ path: `/body/roles/${role}/${own}`, message: `For the ${role} role: ${p.message}` });
    }
  }
  return out;
}

const ON_THIS_SERVER = "on this server";

/** ttl_days of a new package or a draft: within min_ttl_days and max_ttl_days. */
export function checkTtlDays(r: EffectiveRules, ttlDays: number, path = "/body/ttl_days"): void {
  if (r.max_ttl_days !== null && ttlDays > r.max_ttl_days) {
    throw new PolicyViolation("max_ttl_days", r.max_ttl_days, `${ttlWords(null, r.max_ttl_days)} ${ON_THIS_SERVER}; you asked for ${ttlDays}`, path);
  }
  if (r.min_ttl_days !== null && ttlDays < r.min_ttl_days) {
    throw new PolicyViolation("min_ttl_days", r.min_ttl_days, `${ttlWords(r.min_ttl_days, null)} ${ON_THIS_SERVER}; you asked for ${ttlDays}`, path);
  }
}

/** A minute of slack on the minimum: a client's "now + N days" is a little before ours when it arrives. */
const MIN_EXPIRY_SLACK_MS = 60_000;

/** A new expiry of an active package: at most max_ttl_days and at least min_ttl_days from now. */
export function checkExpiry(r: EffectiveRules, expires: Date, now: Date, path: string): void {
  const days = (expires.getTime() - now.getTime()) / 86_400_000;
  if (r.max_ttl_days !== null && days > r.max_ttl_days) {
    throw new PolicyViolation(
      "max_ttl_days",
      r.max_ttl_days,
      `${ttlWords(null, r.max_ttl_days)} ${ON_THIS_SERVER}: the new expiry must be at most ${r.max_ttl_days} days from now`,
      path,
    );
  }
  if (r.min_ttl_days !== null && expires.getTime() + MIN_EXPIRY_SLACK_MS < now.getTime() + r.min_ttl_days * 86_400_000) {
    throw new PolicyViolation(
      "min_ttl_days",
      r.min_ttl_days,
      `${ttlWords(r.min_ttl_days, null)} ${ON_THIS_SERVER}: the new expiry must be at least ${r.min_ttl_days} days from now`,
      path,
    );
  }
}

/** The domain of an email address, lower case. */
export function domainOf(email: string): string {
  return email.slice(email.lastIndexOf("@") + 1).toLowerCase();
}

/** The recipients of a package: how many, and each one's domain against the allowed and blocked lists. */
export function checkRecipients(r: EffectiveRules, emails: string[], pathOf: (index: number) => string): void {
  if (r.max_recipients !== null && emails.length > r.max_recipients) {
    throw new PolicyViolation("max_recipients", r.max_recipients, `${recipientsWords(r.max_recipients)} ${ON_THIS_SERVER}; this one has ${emails.length}`, "/body/recipients");
  }
  for (const [i, email] of emails.entries()) {
    const domain = domainOf(email);
    const allowed = r.allowed_recipient_domains;
    if (allowed !== null && !allowed.some((entry) => domainMatches(domain, entry))) {
      throw new PolicyViolation("allowed_recipient_domains", allowed, `${allowedDomainsWords(allowed)} ${ON_THIS_SERVER}; ${email} is not`, pathOf(i));
    }
    const blocked = r.blocked_recipient_domains;
    if (blocked?.some((entry) => domainMatches(domain, entry))) {
      throw new PolicyViolation("blocked_recipient_domains", blocked, `${blockedDomainsWords(blocked)} ${ON_THIS_SERVER}; ${email} is one`, pathOf(i));
    }
  }
}

/** What the rules about a package's protection look at. */
export interface Protection {
  direction: "outbound" | "inbound";
  hasPassword: boolean;
  encrypted: boolean;
}

/** require_password (outbound packages) and require_encryption (every package). */
export function checkProtection(r: EffectiveRules, p: Protection): void {
  if (r.require_password && p.direction === "outbound" && !p.hasPassword) {
    throw new PolicyViolation("require_password", true, `${PASSWORD_WORDS} ${ON_THIS_SERVER}: give the link a password`, "/body/password");
  }
  if (r.require_encryption && !p.encrypted) {
    throw new PolicyViolation("require_encryption", true, `${ENCRYPTION_WORDS} ${ON_THIS_SERVER}: create it with sf send --encrypt or sf request --encrypt`, "/body/encryption");
  }
}

/** What a package's creation (or its finalize, under the rules of that moment) must satisfy. */
export interface PackageFacts extends Protection {
  ttlDays: number;
  recipients: string[];
}

/** Every package rule, in a fixed order; the first broken one refuses. */
export function checkPackage(r: EffectiveRules, p: PackageFacts): void {
  checkTtlDays(r, p.ttlDays);
  checkRecipients(r, p.recipients, (i) => (p.recipients.length === 1 ? "/body/recipient_email" : `/body/recipients/${i}/email`));
  checkProtection(r, p);
}

/** The refusal of a file over max_file_bytes. */
export function fileTooLarge(limit: number, path = "/body/file"): PolicyViolation {
  return new PolicyViolation("max_file_bytes", limit, `Files can be at most ${formatBytes(limit)} ${ON_THIS_SERVER}`, path);
}

/** A file of `size` bytes against max_file_bytes. */
export function checkFileSize(r: EffectiveRules, size: number, path = "/body/file"): void {
  if (r.max_file_bytes !== null && size > r.max_file_bytes) throw fileTooLarge(r.max_file_bytes, path);
}

/** The refusal of bringing back an expired package whose files do not fit in the owner's quota. */
export function quotaFullToRevive(quota: number, held: number, size: number, path: string): QuotaExceeded {
  return new QuotaExceeded(
    quota,
    `Bringing this package back would take you past your storage quota of ${formatBytes(quota)} (you hold ${formatBytes(held)}; its files take ${formatBytes(size)}). Delete packages you no longer need, or ask an administrator for more room`,
    path,
  );
}

/**
 * The refusal of an upload that does not fit in its owner's quota. The owner is told the numbers;
 * a recipient uploading through an inbound link only that there is no room.
 */
export function quotaFull(quota: number, held: number, through: "owner" | "link", path = "/body/file"): QuotaExceeded {
  const detail =
    through === "owner"
      ? `This file does not fit in your storage quota of ${formatBytes(quota)} (you hold ${formatBytes(held)} in draft and active packages); nothing was stored. Delete packages you no longer need, or ask an administrator for more room`
      : "The storage quota of the person who asked for these files has no room for this file; nothing was stored. Tell them";
  return new QuotaExceeded(quota, detail, path);
}
