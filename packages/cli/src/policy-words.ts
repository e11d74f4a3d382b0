import { formatBytes, type EffectiveRules, type Policy, type PolicyRuleName, type PolicyRules } from "@speedyfiles/sdk";

type Role = "user" | "admin";
type Value = PolicyRules[keyof PolicyRules];

/** The rules in the order `sf admin policy show` lists them, each with its label and its flag. */
export const RULES: { rule: PolicyRuleName; label: string; flag: string }[] = [
  { rule: "max_file_bytes", label: "largest file", flag: "--max-file-size" },
  { rule: "quota_bytes_per_user", label: "storage quota", flag: "--quota" },
  { rule: "min_ttl_days", label: "shortest link", flag: "--min-ttl-days" },
  { rule: "max_ttl_days", label: "longest link", flag: "--max-ttl-days" },
  { rule: "require_password", label: "link password", flag: "--require-password" },
  { rule: "require_encryption", label: "encryption", flag: "--require-encryption" },
  { rule: "allowed_recipient_domains", label: "sends only to", flag: "--allowed-domains" },
  { rule: "blocked_recipient_domains", label: "never sends to", flag: "--blocked-domains" },
  { rule: "max_recipients", label: "recipients", flag: "--max-recipients" },
];

const ROLE_NAMES: Record<Role, string> = { user: "users", admin: "admins" };

/** One rule's value in words: `2 GiB`, `at most 30 days`, `required`, `no limit`. */
export function ruleValueInWords(rule: PolicyRuleName, value: Value | undefined): string {
  const none = value === null || value === undefined || value === false;
  switch (rule) {
    case "max_file_bytes":
      return none ? "no limit" : formatBytes(value as number, { exact: true });
    case "quota_bytes_per_user":
      return none ? "no limit" : `${formatBytes(value as number, { exact: true })} per user, in draft and active packages`;
    case "min_ttl_days":
      return none ? "no limit" : `at least ${days(value as number)}`;
    case "max_ttl_days":
      return none ? "no limit" : `at most ${days(value as number)}`;
    case "require_password":
      return none ? "not required" : "required on every package sent";
    case "require_encryption":
      return none ? "not required" : "end to end, required on every package";
    case "allowed_recipient_domains":
      return none ? "any domain" : (value as string[]).length === 0 ? "no domain" : (value as string[]).join(", ");
    case "blocked_recipient_domains":
      return none || (value as string[]).length === 0 ? "no domain blocked" : (value as string[]).join(", ");
    case "max_recipients":
      return none ? "no limit" : `at most ${value as number} per package`;
    default:
      return JSON.stringify(value);
  }
}

/** A rule and its value as `sf admin policy show` lists it: `largest file 2 GiB`, `longest link at most 30 days`. */
export function ruleInWords(rule: PolicyRuleName, value: Value | undefined): string {
  const label = RULES.find((r) => r.rule === rule)?.label ?? rule;
  return `${label} ${ruleValueInWords(rule, value)}`;
}

function days(n: number): string {
  return n === 1 ? "1 day" : `${n} days`;
}

/** The rules that apply to a role: the instance's, with the role's overrides. */
export function rulesFor(policy: Policy, role: Role): EffectiveRules {
  const merged: Record<string, unknown> = { ...policy.rules, ...policy.roles[role] };
  // A role's `null` for a yes/no rule is "not required", as the effective rules say it.
  for (const k of ["require_password", "require_encryption"]) merged[k] = merged[k] === true;
  return merged as EffectiveRules;
}

/**
 * `label  value (admins: override)` lines: the instance's rules, or one role's effective rules,
 * with the overrides of the roles not shown named after each value.
 */
export function policyLines(policy: Policy, role?: Role): [string, string][] {
  const rules = role ? rulesFor(policy, role) : policy.rules;
  return RULES.map(({ rule, label }) => {
    const notes = (["user", "admin"] as const)
      .filter((r) => r !== role && Object.hasOwn(policy.roles[r] ?? {}, rule))
      .map((r) => `${ROLE_NAMES[r]}: ${ruleValueInWords(rule, policy.roles[r][rule])}`);
    const own = role && Object.hasOwn(policy.roles[role] ?? {}, rule) ? ` (${ROLE_NAMES[role]}' own rule)` : "";
    return [label, `${ruleValueInWords(rule, rules[rule])}${own}${notes.length ? ` (${notes.join("; ")})` : ""}`];
  });
}

/**
 * The `sf admin policy set` command lines that bring back a policy (after `clear`): one for the
 * instance's rules, one for each role with rules of its own (only those of `which`). Empty when
 * there are no such rules.
 */
export function restoreCommands(policy: Policy, hintFlags = "", which: ("instance" | Role)[] = ["instance", "user", "admin"]): string[] {
  const lines: string[] = [];
  const flagsOf = (rules: PolicyRules, keepNull: boolean): string[] =>
    RULES.flatMap(({ rule, flag }): string[] => {
      if (!Object.hasOwn(rules, rule)) return [];
      const v = rules[rule];
      if (v === null || v === undefined) return keepNull ? [`${flag} none`] : [];
      if (typeof v === "boolean") return v ? [flag] : keepNull ? [`--no-${flag.slice(2)}`] : [];
      if (Array.isArray(v)) return v.length === 0 ? [] : [`${flag} ${v.join(",")}`];
      return [`${flag} ${v}`];
    });
  const own = which.includes("instance") ? flagsOf(policy.rules, false) : [];
  if (own.length > 0) lines.push(`sf admin policy set ${own.join(" ")}${hintFlags}`);
  for (const role of ["user", "admin"] as const) {
    const f = which.includes(role) ? flagsOf(policy.roles[role] ?? {}, true) : [];
    if (f.length > 0) lines.push(`sf admin policy set --role ${role} ${f.join(" ")}${hintFlags}`);
  }
  return lines;
}
