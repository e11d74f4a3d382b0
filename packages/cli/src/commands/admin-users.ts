import type { Command } from "commander";
import type { SpeedyFiles } from "@speedyfiles/sdk";
import { CliError, ExitCode, UsageError } from "../exit-codes.js";
import { clean, info, printJson } from "../output.js";
import type { Context } from "../run.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The user an argument names: a user id as is, an email by the admin user search (exact match). */
async function resolveUser(sf: SpeedyFiles, arg: string): Promise<{ id: string; email: string | null }> {
  const typed = arg.trim();
  if (UUID.test(typed)) return { id: typed.toLowerCase(), email: null };
  if (!typed.includes("@")) throw new UsageError(`"${arg}" is neither a user id nor an email address`);
  const email = typed.toLowerCase();
  // The search matches parts of emails and names: page through its answers for the exact email.
  for (let page = 1; ; page++) {
    const list = await sf.admin.users.list({ q: email, page, per_page: 100 });
    const found = list.items.find((u) => u.email.toLowerCase() === email);
    if (found) return { id: found.id, email: found.email };
    if (page * list.per_page >= list.total) break;
  }
  throw new CliError(`no user has the email ${clean(typed)}`, ExitCode.NOT_FOUND);
}

/** `sf admin users …`: what an admin does to user accounts from a terminal. */
export function registerAdminUsers(program: Command, ctx: Context): void {
  const admin = program.commands.find((c) => c.name() === "admin") ?? program.command("admin").description("administer the server (admins only)");
  const users = admin.command("users").description("user accounts");

  users
    .command("reset-password <user>")
    .description("force a user to choose a new password: theirs stops working now, they are signed out everywhere and emailed a link")
    .option("--revoke-tokens", "also revoke their API tokens (programs using them get 401)")
    .option("--json", "print the answer as JSON")
    .addHelpText(
      "after",
      `
<user> is the user's email address or id. Their API tokens keep working unless --revoke-tokens.
Example:
  sf admin users reset-password bob@acme.com --revoke-tokens`,
    )
    .action(async (arg: string, opts: { revokeTokens?: boolean; json?: boolean }) => {
      const sf = await ctx.client();
      const user = await resolveUser(sf, arg);
      const answer = await sf.admin.users.forcePasswordReset(user.id, { revoke_tokens: opts.revokeTokens === true });
      if (opts.json) return printJson(ctx.io, { id: user.id, ...answer });
      info(ctx.io, clean(answer.detail));
    });
}
