import type { Command } from "commander";
import { UsageError } from "../exit-codes.js";
import { clean, info } from "../output.js";
import type { Context } from "../run.js";

/** `sf password forgot <email>`: the "Forgot your password?" of the sign-in page, from a terminal. */
export function registerPassword(program: Command, ctx: Context): void {
  const password = program.command("password").description("a forgotten password (no login needed)");
  password
    .command("forgot <email>")
    .description("email yourself a link to choose a new password (it opens the server's web page)")
    .addHelpText(
      "after",
      `
The server answers the same whether or not the address has an account. Open the link in the email
within its time limit, choose the new password there, then \`sf login\` again.
Example:
  sf password forgot me@acme.com --url https://files.example.com`,
    )
    .action(async (email: string) => {
      if (!email.includes("@")) throw new UsageError(`"${email}" is not an email address`);
      const sf = await ctx.client({ auth: false });
      const answer = await sf.auth.requestPasswordReset(email.trim());
      info(ctx.io, clean(answer.detail));
    });
}
