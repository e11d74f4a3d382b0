import type { Command } from "commander";
import type { Scope } from "@speedyfiles/sdk";
import { UsageError } from "../exit-codes.js";
import { check } from "../flags.js";
import { resolveId, SHORT_ID } from "../ids.js";
import { formatDate, info, isTty, out, printJson, printTable } from "../output.js";
import type { Context } from "../run.js";
import { parsePositiveInt } from "./shared.js";

export function registerTokens(program: Command, ctx: Context): void {
  const tokens = program.command("tokens").description("list, create and revoke your API tokens");

  tokens
    .command("list")
    .description("list your API tokens (never their secret part)")
    .option("--json", "print one JSON array")
    .action(async (opts: { json?: boolean }) => {
      const sf = await ctx.client();
      const list = await sf.tokens.list();
      if (opts.json) return printJson(ctx.io, list);
      const mine = (await ctx.resolve()).token?.slice(0, 11);
      const short = isTty(ctx.io.stdout);
      printTable(
        ctx.io,
        ["ID", { header: "NAME", shrink: "end", min: 10 }, "PREFIX", "SCOPES", "CREATED", "EXPIRES", "LAST USED"],
        list.map((t) => [
          short ? t.id.slice(0, SHORT_ID) : t.id,
          t.prefix === mine ? `${t.name} (this one)` : t.name,
          `${t.prefix}…`,
          t.scopes.join(","),
          formatDate(t.created_at),
          formatDate(t.expires_at),
          formatDate(t.last_used_at),
        ]),
      );
    });

  tokens
    .command("create <name>")
    .description("create a token; the raw token is printed once on stdout")
    .option("--expires-in-days <n>", "expires after N days (default: never)", parsePositiveInt)
    .option("--scope <scope>", `limit the token to this scope; repeat or separate with commas (${SCOPES.join(", ")}; default: every scope this token holds)`, collectScopes)
    .option("--json", "print the created token as JSON (includes the raw token)")
    .addHelpText("after", "\nExample: a token that can only send packages from CI\n  sf tokens create ci --scope packages:write --scope packages:read")
    .action(async (name: string, opts: { expiresInDays?: number; scope?: Scope[]; json?: boolean }) => {
      ctx.errorContext.fieldFlags = { name: "<name>", expires_in_days: "--expires-in-days", scopes: "--scope" };
      check.length("<name>", name, 1, 100);
      check.range("--expires-in-days", opts.expiresInDays, 1, 3650);
      const sf = await ctx.client();
      const t = await sf.tokens.create(name, { ...(opts.expiresInDays ? { expires_in_days: opts.expiresInDays } : {}), ...(opts.scope ? { scopes: opts.scope } : {}) });
      if (opts.json) return printJson(ctx.io, t);
      out(ctx.io, t.token);
      info(
        ctx.io,
        `Created token "${t.name}" (id ${t.id}${t.expires_at ? `, expires ${formatDate(t.expires_at)}` : ""}; scopes ${t.scopes.join(", ")}). It is shown only this once: store it now.`,
      );
    });

  tokens
    .command("revoke <id>")
    .description("revoke a token by id (see `sf tokens list`); it stops working at once")
    .addHelpText("after", "\n<id> is a token id or any unique start of one (at least 4 characters).")
    .action(async (arg: string) => {
      const sf = await ctx.client();
      const id = await resolveId(ctx, sf, "token", arg);
      await sf.tokens.revoke(id);
      info(ctx.io, `Revoked token ${id}.`);
    });
}

const SCOPES: readonly Scope[] = ["packages:read", "packages:write", "webhooks:read", "webhooks:write", "tokens:write", "admin"];

/** `--scope a --scope b,c`: every word a known scope (a typo is a usage error, before any request). */
function collectScopes(value: string, previous: Scope[] | undefined): Scope[] {
  const words = value
    .split(",")
    .map((w) => w.trim())
    .filter((w) => w !== "");
  if (words.length === 0) throw new UsageError("--scope must name a scope");
  for (const w of words) {
    if (!(SCOPES as readonly string[]).includes(w)) throw new UsageError(`--scope must be one of ${SCOPES.join(", ")} (got "${w}")`);
  }
  return [...new Set([...(previous ?? []), ...(words as Scope[])])];
}
