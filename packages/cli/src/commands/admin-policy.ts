import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { parseBytes, type Policy, type PolicyChanges, type RoleChanges } from "@speedyfiles/sdk";
import { UsageError } from "../exit-codes.js";
import { clean, formatDate, info, out, printJson } from "../output.js";
import type { Context } from "../run.js";
import { policyLines, restoreCommands, RULES, rulesFor } from "../policy-words.js";

type Role = "user" | "admin";
type Inherit = "inherit";
/** `none` as the flag's value: no rule (not null: commander turns a parser's null into ""). */
type NoRule = "none";

// The spec's DomainList item: a domain name, or `*.` and one (its subdomains only).
const DOMAIN = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** `none` (no rule), `inherit` (with --role: the instance's rule again), or what `parse` reads. */
function ruleValue<T>(parse: (v: string) => T, expected: string) {
  return (v: string): T | NoRule | Inherit => {
    const word = v.trim().toLowerCase();
    if (word === "none") return "none";
    if (word === "inherit") return "inherit";
    try {
      return parse(v.trim());
    } catch (err) {
      throw new InvalidArgumentError(`${(err as Error).message || `expected ${expected}`}, none (no rule) or, with --role, inherit`);
    }
  };
}

function wholeNumber(min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new Error(`expected a whole number from ${min} to ${max}`);
    return Number(v);
  };
}

function size(v: string): number {
  const n = parseBytes(v);
  if (n === undefined) throw new Error("expected a size such as 2GiB, 500MiB, 1.5GB or a number of bytes");
  return n;
}

function domains(v: string): string[] {
  const list = [
    ...new Set(
      v
        .split(",")
        .map((d) => d.trim().toLowerCase())
        .filter(Boolean),
    ),
  ];
  const bad = list.find((d) => !DOMAIN.test(d) || d.length > 253);
  if (bad !== undefined) throw new Error(`"${bad}" is not a domain (acme.com) or a domain's subdomains (*.acme.com)`);
  if (list.length > 500) throw new Error("at most 500 domains");
  return list;
}

/** `--require-password` alone: yes; `yes`/`no`, `none` (no rule) or `inherit`. */
function yesNo(v: string | undefined): boolean | Inherit {
  const word = (v ?? "yes").trim().toLowerCase();
  if (["yes", "true", "on"].includes(word)) return true;
  if (["no", "false", "off", "none"].includes(word)) return false;
  if (word === "inherit") return "inherit";
  throw new InvalidArgumentError("expected nothing (required), no, or with --role inherit");
}

interface SetFlags {
  minTtlDays?: number | NoRule | Inherit;
  maxTtlDays?: number | NoRule | Inherit;
  requirePassword?: boolean | Inherit;
  requireEncryption?: boolean | Inherit;
  allowedDomains?: string[] | NoRule | Inherit;
  blockedDomains?: string[] | NoRule | Inherit;
  maxFileSize?: number | NoRule | Inherit;
  maxRecipients?: number | NoRule | Inherit;
  quota?: number | NoRule | Inherit;
  role?: Role;
  json?: boolean;
}

/** Flag → API field, for the server's validation errors in the words of the flags. */
const FIELD_FLAGS = Object.fromEntries(RULES.map(({ rule, flag }) => [rule, flag]));

function role(v: string): Role {
  const r = v.trim().toLowerCase();
  if (r !== "user" && r !== "admin") throw new InvalidArgumentError("expected user or admin");
  return r;
}

const SET_HELP = `
Only the rules named change; the others stay as they are. \`none\` removes a rule (no limit).
Sizes take units: 2GiB, 500MiB, 1.5GB (KiB, MiB, GiB, TiB are powers of 1024; kB, MB, GB, TB
of 1000). Domains: acme.com matches that domain only, *.acme.com its subdomains only; give both
for either.

With --role the rules named become that role's own (overriding the instance's for its users):
\`none\` there means no limit for that role, \`inherit\` drops the override so the role follows
the instance's rule again.

Examples:
  sf admin policy set --max-ttl-days 30 --require-encryption --allowed-domains acme.com,*.acme.com
  sf admin policy set --quota 50GiB --max-file-size 2GiB --max-recipients 10
  sf admin policy set --role admin --quota none
  sf admin policy set --no-require-encryption --allowed-domains none
  sf admin policy set --role admin --quota inherit

Rules apply to packages created or changed from now on: links already sent keep working; a quota
lowered below what a user holds refuses their next upload. Each change is recorded in the audit
trail (policy.updated).`;

/** The changes the flags name (`inherit` kept only with --role). */
function changesOf(opts: SetFlags): RoleChanges {
  const given: [keyof RoleChanges, unknown][] = [
    ["min_ttl_days", opts.minTtlDays],
    ["max_ttl_days", opts.maxTtlDays],
    ["require_password", opts.requirePassword],
    ["require_encryption", opts.requireEncryption],
    ["allowed_recipient_domains", opts.allowedDomains],
    ["blocked_recipient_domains", opts.blockedDomains],
    ["max_file_bytes", opts.maxFileSize],
    ["max_recipients", opts.maxRecipients],
    ["quota_bytes_per_user", opts.quota],
  ];
  const changes: Record<string, unknown> = {};
  for (const [rule, value] of given) {
    if (value === undefined) continue;
    if (value === "inherit" && !opts.role) {
      const flag = RULES.find((r) => r.rule === rule)!.flag;
      throw new UsageError(`${flag} inherit needs --role user or --role admin (the instance's own rules inherit nothing: use none to remove one)`);
    }
    // The instance's yes/no rules: no is no rule.
    changes[rule] = value === "none" || (value === false && !opts.role) ? null : value;
  }
  return changes as RoleChanges;
}

function printPolicy(ctx: Context, policy: Policy, r?: Role): void {
  const rows: [string, string][] = [
    ...policyLines(policy, r),
    ["changed", policy.updated_at ? `${formatDate(policy.updated_at)}${policy.updated_by ? ` by ${policy.updated_by}` : ""}` : "never"],
  ];
  if (r) out(ctx.io, `Rules for ${r === "admin" ? "admins" : "users"}:`);
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) out(ctx.io, `${k.padEnd(width)}  ${clean(v)}`);
}

/** `sf admin policy …`: the rules every package must follow (admins only). */
export function registerAdminPolicy(program: Command, ctx: Context): void {
  const admin = program.commands.find((c) => c.name() === "admin") ?? program.command("admin").description("administer the server (admins only)");
  const policy = admin
    .command("policy")
    .description("the rules every package must follow: link lifetimes, password, encryption, recipient domains, file size, recipients, storage quota");

  policy
    .command("show")
    .description("show the policy in words (each role's own rules after each value)")
    .option("--role <role>", "the rules as they apply to users of this role: user or admin", role)
    .option("--json", "print JSON (the policy as the API returns it; with --role, that role's rules)")
    .action(async (opts: { role?: Role; json?: boolean }) => {
      const sf = await ctx.client();
      const p = await sf.admin.policy.get();
      if (opts.json) return printJson(ctx.io, opts.role ? { role: opts.role, rules: rulesFor(p, opts.role) } : p);
      printPolicy(ctx, p, opts.role);
    });

  policy
    .command("set")
    .description("change the rules named (the others stay)")
    .option("--min-ttl-days <days>", "links live at least this many days (1-365), or none", ruleValue(wholeNumber(1, 365), "days"))
    .option("--max-ttl-days <days>", "links live at most this many days (1-365), or none", ruleValue(wholeNumber(1, 365), "days"))
    .option("--require-password [no]", "every package sent needs a link password", yesNo)
    .option("--no-require-password", "no link password required")
    .option("--require-encryption [no]", "every package needs end-to-end encryption", yesNo)
    .option("--no-require-encryption", "no encryption required")
    .option("--allowed-domains <list>", "send only to recipients at these domains (comma-separated: acme.com,*.acme.com), or none", ruleValue(domains, "domains"))
    .option("--blocked-domains <list>", "never send to recipients at these domains (comma-separated), or none", ruleValue(domains, "domains"))
    .option("--max-file-size <size>", "the largest file (2GiB, 500MiB, …), or none", ruleValue(size, "a size"))
    .option("--max-recipients <n>", "most recipients of one package (1-50), or none", ruleValue(wholeNumber(1, 50), "a number"))
    .option("--quota <size>", "storage each user may hold in draft and active packages (50GiB, …), or none", ruleValue(size, "a size"))
    .option("--role <role>", "set these rules for one role only (user or admin), overriding the instance's", role)
    .option("--json", "print the new policy as JSON")
    .addHelpText("after", SET_HELP)
    .action(async (opts: SetFlags) => {
      ctx.errorContext.fieldFlags = FIELD_FLAGS;
      const changes = changesOf(opts);
      if (Object.keys(changes).length === 0) throw new UsageError("nothing to change: name at least one rule (see sf admin policy set --help)");
      const sf = await ctx.client();
      const body: PolicyChanges = opts.role ? { roles: { [opts.role]: changes } } : (changes as PolicyChanges);
      const p = await sf.admin.policy.update(body);
      if (opts.json) return printJson(ctx.io, p);
      printPolicy(ctx, p, opts.role);
      info(ctx.io, `Policy updated${opts.role ? ` for ${opts.role === "admin" ? "admins" : "users"}` : ""}: it applies to packages created or changed from now on.`);
    });

  policy
    .command("clear")
    .description("remove every rule (or, with --role, that role's own rules); prints how to bring them back")
    .option("--role <role>", "remove only this role's own rules (user or admin): it follows the instance's again", role)
    .option("--json", "print the new policy as JSON")
    .action(async (opts: { role?: Role; json?: boolean }) => {
      const sf = await ctx.client();
      const before = await sf.admin.policy.get();
      const restore = restoreCommands(before, ctx.hintFlags(), opts.role ? [opts.role] : undefined);
      const whose = opts.role === "admin" ? "admins" : "users";
      if (restore.length === 0) {
        // Nothing to remove: no change, and no policy.updated event for one.
        if (opts.json) printJson(ctx.io, before);
        info(ctx.io, opts.role ? `The ${whose} have no rules of their own: nothing changed.` : "The policy has no rules: nothing changed.");
        return;
      }
      const after = opts.role
        ? await sf.admin.policy.update({ roles: { [opts.role]: Object.fromEntries(Object.keys(before.roles[opts.role] ?? {}).map((k) => [k, "inherit"])) as RoleChanges } })
        : await sf.admin.policy.clear();
      if (opts.json) printJson(ctx.io, after);
      info(ctx.io, opts.role ? `Removed the ${whose}' own rules: the instance's apply to them. To bring them back:` : "Cleared the policy: no rules apply now. To bring it back:");
      for (const l of restore) info(ctx.io, `  ${l}`);
    });
}
