import type { Command } from "commander";
import { check } from "../flags.js";
import { clean, formatDate, info, out, paint, printJson, useColor } from "../output.js";
import type { Context } from "../run.js";
import { mailStateOf, parsePositiveInt } from "./shared.js";

export function registerRequest(program: Command, ctx: Context): void {
  program
    .command("request")
    .description("ask someone to upload files to you: prints the upload link (also mailed to them)")
    .requiredOption("--from <email>", "who should upload (they get the link by mail)")
    .option("--name <name>", "their name")
    .option("--title <title>", "what you are asking for")
    .option("--message <text>", "message for them")
    .option("--ttl <days>", "days the link works (default 7)", parsePositiveInt)
    .option("--json", "print the package as JSON")
    .action(async (opts: { from: string; name?: string; title?: string; message?: string; ttl?: number; json?: boolean }) => {
      ctx.errorContext.fieldFlags = { recipient_email: "--from", recipient_name: "--name", title: "--title", message: "--message", ttl_days: "--ttl" };
      check.email("--from", opts.from);
      check.length("--name", opts.name, 1, 200);
      check.length("--title", opts.title, 1, 200);
      check.length("--message", opts.message, 0, 5000);
      check.range("--ttl", opts.ttl, 1, 365);
      const sf = await ctx.client();
      const r = await sf.request({
        from: opts.from,
        ...(opts.name ? { recipient_name: opts.name } : {}),
        ...(opts.title ? { title: opts.title } : {}),
        ...(opts.message ? { message: opts.message } : {}),
        ...(opts.ttl ? { ttl_days: opts.ttl } : {}),
      });
      const pkg = r.package;
      if (opts.json) {
        return printJson(ctx.io, {
          id: pkg.id,
          title: pkg.title,
          recipient_email: pkg.recipient_email,
          direction: pkg.direction,
          status: pkg.status,
          magic_link: r.magic_link,
          expires_at: r.expires_at,
          email_sent: pkg.email_sent,
          email_error: pkg.email_error,
        });
      }
      info(ctx.io, `Upload request ${pkg.id} for ${clean(pkg.recipient_email)}, link valid until ${formatDate(r.expires_at)}.`);
      // The server queues the email and sends it in the background: only a failure is news.
      if (pkg.links[0] && mailStateOf(pkg.links[0]) === "failed") info(ctx.io, paint(useColor(ctx.io)).yellow("The email was not sent: share the link yourself."));
      out(ctx.io, r.magic_link);
    });
}
