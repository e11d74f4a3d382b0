import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import type { SpeedyFiles, TrustPolicy, TrustPolicyCreateRequest, TrustPolicyUpdateRequest } from "@speedyfiles/sdk";
import { CliError, ExitCode, UsageError } from "../exit-codes.js";
import { check } from "../flags.js";
import { MIN_PREFIX, SHORT_ID } from "../ids.js";
import { clean, formatDate, formatSeconds, info, isTty, out, printJson, printTable } from "../output.js";
import type { Context } from "../run.js";

type Scope = TrustPolicy["scopes"][number];
type AllowedEvent = TrustPolicy["allowed_events"][number];

const SCOPES: Scope[] = ["packages:read", "packages:write", "webhooks:read", "webhooks:write"];
const EVENTS: AllowedEvent[] = ["pull_request_target", "workflow_run"];
const GITHUB = "https://token.actions.githubusercontent.com";

const ID_HELP = "\n<id> is a trust policy id or any unique start of one (at least 4 characters).";
const CREATE_HELP = `
A pipeline whose OIDC ID token comes from --issuer, carries --audience in "aud" and meets every
--condition exchanges it at POST /api/v1/auth/oidc for a token acting for --user with the
--scope(s), for --ttl (at most 1h). Condition values are exact, or globs: "*" matches any run of
characters except "/", "**" any run including "/".

A GitHub Actions policy (--issuer ${GITHUB}) must pin
repository_id or repository_owner_id to exact digits (names can be reused after a rename).

Example:
  sf admin trust create --name "acme/app releases" --issuer ${GITHUB} \\
    --audience https://files.example.com --condition repository_id=123456789 \\
    --condition ref=refs/heads/main --user ci@example.com \\
    --scope packages:read --scope packages:write --ttl 15m`;

/** `--condition claim=value`, repeatable: the claim's name up to the first "=". */
function condition(v: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = v.indexOf("=");
  if (eq <= 0 || eq === v.length - 1) throw new InvalidArgumentError("expected claim=value, such as repository_id=123456789");
  const claim = v.slice(0, eq).trim();
  if (Object.hasOwn(previous, claim)) throw new InvalidArgumentError(`the claim '${claim}' is given twice`);
  return { ...previous, [claim]: v.slice(eq + 1) };
}

function scope(v: string, previous: Scope[] = []): Scope[] {
  if (!(SCOPES as string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${SCOPES.join(", ")} (a pipeline never holds admin or tokens:write)`);
  return [...new Set([...previous, v as Scope])];
}

// With `--no-allow-event` beside it (update), commander's default for the option is `true`.
function allowedEvent(v: string, previous: AllowedEvent[] | boolean = []): AllowedEvent[] {
  if (!(EVENTS as string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${EVENTS.join(", ")}`);
  return [...new Set([...(Array.isArray(previous) ? previous : []), v as AllowedEvent])];
}

/** `--ttl 15m`, `1h`, `90s` or a number of seconds: 60 s to 1 h. */
export function parseTtl(v: string): number {
  const m = /^(\d+)\s*(s|m|min|h)?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError("expected a duration such as 15m, 1h or 3600 (seconds)");
  const unit = (m[2] ?? "s").toLowerCase();
  const seconds = Number(m[1]) * (unit === "h" ? 3600 : unit === "s" ? 1 : 60);
  if (seconds < 60 || seconds > 3600) throw new InvalidArgumentError(`must be between 1m and 1h (got ${seconds} s)`);
  return seconds;
}

interface PolicyFlags {
  name?: string;
  issuer?: string;
  audience?: string;
  condition?: Record<string, string>;
  user?: string;
  scope?: Scope[];
  ttl?: number;
  allowEvent?: AllowedEvent[];
  json?: boolean;
}

const FIELD_FLAGS = {
  name: "--name",
  issuer: "--issuer",
  audience: "--audience",
  conditions: "--condition",
  user_email: "--user",
  scopes: "--scope",
  token_ttl_seconds: "--ttl",
  allowed_events: "--allow-event",
};

function policyFlags(cmd: Command): Command {
  return cmd
    .option("--name <text>", "a name for people")
    .option("--issuer <url>", `the OIDC issuer (GitHub Actions: ${GITHUB})`)
    .option("--audience <aud>", "the audience the pipeline's token must carry")
    .option("--condition <claim=value>", "a claim the token must have, exactly or by glob (repeat)", condition)
    .option("--user <email>", "the user the minted tokens act for")
    .option("--scope <scope>", `a scope of the minted tokens (repeat): ${SCOPES.join(", ")}`, scope)
    .option("--ttl <duration>", "how long a minted token lives: 15m, 1h or seconds (at most 1h)", parseTtl)
    .option("--allow-event <event>", `accept tokens of this refused event (repeat): ${EVENTS.join(", ")}`, allowedEvent)
    .option("--json", "print the policy as JSON");
}

/** The full id from an id or a unique start of one (admins have few policies: from the list). */
async function resolvePolicyId(sf: SpeedyFiles, arg: string): Promise<string> {
  const typed = arg.trim().toLowerCase();
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(typed)) return typed;
  if (!/^[0-9a-f][0-9a-f-]*$/.test(typed) || typed.length > 36) throw new UsageError(`"${arg}" is not a trust policy id (or the start of one)`);
  if (typed.length < MIN_PREFIX) throw new UsageError(`trust policy id "${arg}" is too short: give at least ${MIN_PREFIX} characters`);
  const matches = (await sf.admin.trustPolicies.list()).filter((p) => p.id.startsWith(typed));
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length === 0) throw new CliError(`no trust policy id starts with "${typed}"`, ExitCode.NOT_FOUND);
  throw new UsageError(`"${typed}" matches ${matches.length} trust policies: give more characters (${matches.map((p) => p.id).join(", ")})`);
}

function printPolicy(ctx: Context, p: TrustPolicy): void {
  const rows: [string, string][] = [
    ["id", p.id],
    ["name", p.name],
    ["issuer", p.issuer],
    ["audience", p.audience],
    ...Object.entries(p.conditions).map(([claim, value]): [string, string] => ["condition", `${claim}=${value}`]),
    ["user", p.user_email],
    ["scopes", p.scopes.join(", ")],
    ["ttl", formatSeconds(p.token_ttl_seconds)],
    ["events", p.allowed_events.length > 0 ? `also ${p.allowed_events.join(", ")}` : "refuses pull_request_target, workflow_run"],
    ["created", formatDate(p.created_at)],
    ["updated", formatDate(p.updated_at)],
  ];
  for (const [k, v] of rows) out(ctx.io, `${k.padEnd(9)} ${clean(v)}`);
}

/** `sf admin trust …`: trust policies for keyless CI (admins only). */
export function registerAdminTrust(program: Command, ctx: Context): void {
  const admin = program.commands.find((c) => c.name() === "admin") ?? program.command("admin").description("administer the server (admins only)");
  const trust = admin.command("trust").description("trust policies: which CI pipelines may exchange their OIDC identity for a short-lived token (keyless CI)");

  trust
    .command("list")
    .description("list trust policies")
    .option("--json", "print one JSON array")
    .action(async (opts: { json?: boolean }) => {
      const sf = await ctx.client();
      const list = await sf.admin.trustPolicies.list();
      if (opts.json) return printJson(ctx.io, list);
      const short = isTty(ctx.io.stdout);
      printTable(
        ctx.io,
        ["ID", { header: "NAME", shrink: "end", min: 8 }, { header: "ISSUER", shrink: "middle", min: 16 }, "CONDITIONS", "USER", "SCOPES", "TTL"],
        list.map((p) => [
          short ? p.id.slice(0, SHORT_ID) : p.id,
          p.name,
          p.issuer,
          Object.entries(p.conditions)
            .map(([c, v]) => `${c}=${v}`)
            .join(" "),
          p.user_email,
          p.scopes.join(","),
          formatSeconds(p.token_ttl_seconds),
        ]),
      );
    });

  policyFlags(trust.command("create").description("create a trust policy; prints its id").addHelpText("after", CREATE_HELP)).action(async (opts: PolicyFlags) => {
    ctx.errorContext.fieldFlags = FIELD_FLAGS;
    const missing = (["name", "issuer", "audience", "condition", "user", "scope"] as const).filter((k) => opts[k] === undefined);
    if (missing.length > 0) throw new UsageError(`sf admin trust create needs ${missing.map((k) => `--${k}`).join(", ")}`);
    check.length("--name", opts.name, 1, 100);
    check.email("--user", opts.user);
    const body: TrustPolicyCreateRequest = {
      name: opts.name!,
      issuer: opts.issuer!,
      audience: opts.audience!,
      conditions: opts.condition!,
      user_email: opts.user!,
      scopes: opts.scope!,
      ...(opts.ttl !== undefined ? { token_ttl_seconds: opts.ttl } : {}),
      ...(opts.allowEvent ? { allowed_events: opts.allowEvent } : {}),
    };
    const sf = await ctx.client();
    const p = await sf.admin.trustPolicies.create(body);
    if (opts.json) return printJson(ctx.io, p);
    out(ctx.io, p.id);
    info(ctx.io, `Created trust policy "${clean(p.name)}": pipelines matching it get ${formatSeconds(p.token_ttl_seconds)} tokens for ${p.user_email} (${p.scopes.join(", ")}).`);
  });

  trust
    .command("show <id>")
    .description("show a trust policy")
    .option("--json", "print JSON")
    .addHelpText("after", ID_HELP)
    .action(async (arg: string, opts: { json?: boolean }) => {
      const sf = await ctx.client();
      const p = await sf.admin.trustPolicies.get(await resolvePolicyId(sf, arg));
      if (opts.json) return printJson(ctx.io, p);
      printPolicy(ctx, p);
    });

  policyFlags(
    trust
      .command("update <id>")
      .description("change a trust policy (the flags given replace its fields; --condition replaces all conditions)")
      .option("--no-allow-event", "accept none of the refused events again")
      .addHelpText("after", ID_HELP),
  ).action(async (arg: string, opts: Omit<PolicyFlags, "allowEvent"> & { allowEvent?: AllowedEvent[] | boolean }) => {
    ctx.errorContext.fieldFlags = FIELD_FLAGS;
    check.length("--name", opts.name, 1, 100);
    check.email("--user", opts.user);
    const body: TrustPolicyUpdateRequest = {
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(opts.issuer !== undefined ? { issuer: opts.issuer } : {}),
      ...(opts.audience !== undefined ? { audience: opts.audience } : {}),
      ...(opts.condition !== undefined ? { conditions: opts.condition } : {}),
      ...(opts.user !== undefined ? { user_email: opts.user } : {}),
      ...(opts.scope !== undefined ? { scopes: opts.scope } : {}),
      ...(opts.ttl !== undefined ? { token_ttl_seconds: opts.ttl } : {}),
      ...(opts.allowEvent === false ? { allowed_events: [] } : Array.isArray(opts.allowEvent) ? { allowed_events: opts.allowEvent } : {}),
    };
    if (Object.keys(body).length === 0) throw new UsageError("nothing to change: give at least one flag (see sf admin trust update --help)");
    const sf = await ctx.client();
    const p = await sf.admin.trustPolicies.update(await resolvePolicyId(sf, arg), body);
    if (opts.json) return printJson(ctx.io, p);
    printPolicy(ctx, p);
  });

  trust
    .command("delete <id>")
    .description("delete a trust policy; the tokens it minted stop working at once")
    .addHelpText("after", ID_HELP)
    .action(async (arg: string) => {
      const sf = await ctx.client();
      const id = await resolvePolicyId(sf, arg);
      await sf.admin.trustPolicies.delete(id);
      info(ctx.io, `Deleted trust policy ${id}.`);
    });
}
