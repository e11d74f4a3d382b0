import type { Command } from "commander";
import { formatDate, info, out, printJson, printTable } from "../output.js";
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
      printTable(
        ctx.io,
        ["ID", "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED"],
        list.map((t) => [t.id, t.prefix === mine ? `${t.name} (this one)` : t.name, `${t.prefix}…`, formatDate(t.created_at), formatDate(t.expires_at), formatDate(t.last_used_at)]),
      );
    });

  tokens
    .command("create <name>")
    .description("create a token; the raw token is printed once on stdout")
    .option("--expires-in-days <n>", "expires after N days (default: never)", parsePositiveInt)
    .option("--json", "print the created token as JSON (includes the raw token)")
    .action(async (name: string, opts: { expiresInDays?: number; json?: boolean }) => {
      const sf = await ctx.client();
      const t = await sf.tokens.create(name, opts.expiresInDays ? { expires_in_days: opts.expiresInDays } : {});
      if (opts.json) return printJson(ctx.io, t);
      out(ctx.io, t.token);
      info(ctx.io, `Created token "${t.name}" (id ${t.id}${t.expires_at ? `, expires ${formatDate(t.expires_at)}` : ""}). It is shown only this once: store it now.`);
    });

  tokens
    .command("revoke <id>")
    .description("revoke a token by id (see `sf tokens list`); it stops working at once")
    .action(async (id: string) => {
      const sf = await ctx.client();
      await sf.tokens.revoke(id);
      info(ctx.io, `Revoked token ${id}.`);
    });
}
