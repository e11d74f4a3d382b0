import type { Command } from "commander";
import { ensureProfileIdentity } from "../encryption.js";
import { ttlHints, UsageError } from "../exit-codes.js";
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
    .option("--encrypt", "the files are encrypted end to end to your own age identity (kept in your config file, made on first use): the server never sees them")
    .option("--json", "print the package as JSON")
    .addHelpText(
      "after",
      `
With --encrypt the upload page (and \`sf upload\`) encrypts each file, its name and size on the
uploader's machine to the public half (age1…) of an identity sf keeps in your config file
(\`$XDG_CONFIG_HOME/speedyfiles/config.json\`, mode 0600, one per profile; made by the first
\`sf request --encrypt\` and kept across logouts). \`sf download <package id>\` decrypts with it.
Back up that file: without the identity nobody can open what was uploaded. An encrypted request
carries no message (the uploader could not read a sealed one and the server must not).

Examples:
  sf request --from alice@example.com --title "Signed contract"
  sf request --from alice@example.com --title "Scans" --encrypt`,
    )
    .action(async (opts: { from: string; name?: string; title?: string; message?: string; ttl?: number; json?: boolean; encrypt?: boolean }) => {
      ctx.errorContext.fieldFlags = { recipient_email: "--from", recipient_name: "--name", title: "--title", message: "--message", ttl_days: "--ttl" };
      ctx.errorContext.policyHints = { require_encryption: "add --encrypt", ...ttlHints("--ttl") };
      check.email("--from", opts.from);
      check.length("--name", opts.name, 1, 200);
      check.length("--title", opts.title, 1, 200);
      check.length("--message", opts.message, 0, 5000);
      check.range("--ttl", opts.ttl, 1, 365);
      if (opts.encrypt && opts.message !== undefined) {
        throw new UsageError("an encrypted request carries no message: the server would read it in the clear; put what you ask for in --title, or tell them yourself");
      }
      const sf = await ctx.client();
      // Only after the login is known to be there: a config without a token gets no identity.
      const age = opts.encrypt ? await ensureProfileIdentity(ctx) : undefined;
      if (age?.created)
        info(ctx.io, `Made an age identity for profile ${age.profileName} (${age.recipient}), kept in ${age.configFile}: back that file up, it opens what is uploaded.`);
      const r = await sf.request({
        from: opts.from,
        ...(opts.name ? { recipient_name: opts.name } : {}),
        ...(opts.title ? { title: opts.title } : {}),
        ...(opts.message ? { message: opts.message } : {}),
        ...(opts.ttl ? { ttl_days: opts.ttl } : {}),
        ...(age ? { encrypt: { recipient: age.recipient } } : {}),
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
          encryption: pkg.encryption ?? null,
        });
      }
      info(ctx.io, `Upload request ${pkg.id} for ${clean(pkg.recipient_email)}, link valid until ${formatDate(r.expires_at)}.`);
      if (age) info(ctx.io, `Encrypted end to end to ${age.recipient}: \`sf download ${pkg.id}\` opens the files with the identity in your config.`);
      // The server queues the email and sends it in the background: only a failure is news.
      if (pkg.links[0] && mailStateOf(pkg.links[0]) === "failed") info(ctx.io, paint(useColor(ctx.io)).yellow("The email was not sent: share the link yourself."));
      out(ctx.io, r.magic_link);
    });
}
