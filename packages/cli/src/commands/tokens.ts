import type { Command } from "commander";
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
        ["ID", { header: "NAME", shrink: "end", min: 10 }, "PREFIX", "CREATED", "EXPIRES", "LAST USED"],
        list.map((t) => [
          short ? t.id.slice(0, SHORT_ID) : t.id,
          t.prefix === mine ? `${t.name} (this one)` : t.name,
          `${t.prefix}…`,
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
    .option("--json", "print the created token as JSON (includes the raw token)")
    .action(async (name: string, opts: { expiresInDays?: number; json?: boolean }) => {
      ctx.errorContext.fieldFlags = { name: "<name>", expires_in_days: "--expires-in-days" };
      check.length("<name>", name, 1, 100);
      check.range("--expires-in-days", opts.expiresInDays, 1, 3650);
      const sf = await ctx.client();
      const t = await sf.tokens.create(name, opts.expiresInDays ? { expires_in_days: opts.expiresInDays } : {});
      if (opts.json) return printJson(ctx.io, t);
      out(ctx.io, t.token);
      info(ctx.io, `Created token "${t.name}" (id ${t.id}${t.expires_at ? `, expires ${formatDate(t.expires_at)}` : ""}). It is shown only this once: store it now.`);
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
