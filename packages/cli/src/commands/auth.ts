import os from "node:os";
import type { Command } from "commander";
import { AuthenticationError, type User } from "@speedyfiles/sdk";
import { checkUrl, readConfig, sameServer, writeConfig, type Profile } from "../config.js";
import { CliError, ExitCode, UsageError } from "../exit-codes.js";
import { clean, info, out, printJson } from "../output.js";
import { ask, askHidden, canPrompt, readStdinText } from "../prompt.js";
import type { Context } from "../run.js";
import { parsePositiveInt } from "./shared.js";

interface LoginOptions {
  email?: string;
  passwordStdin?: boolean;
  withToken?: boolean;
  expiresInDays?: number;
}

export function registerAuth(program: Command, ctx: Context): void {
  program
    .command("login")
    .description("log in and save a token for this machine in the config file (mode 0600)")
    .option("--email <email>", "account email (asked on a terminal)")
    .option("--password-stdin", "read the password from stdin (scripts; no terminal needed)")
    .option("--with-token", "read an existing API token from stdin instead of logging in with a password")
    .option("--expires-in-days <n>", "the new token expires after N days (default: never)", parsePositiveInt)
    .addHelpText(
      "after",
      `
On a terminal, sf asks for the server URL, email and password (hidden). Without one:
  printf '%s' "$PASSWORD" | sf login --url https://files.example.com --email me@acme.com --password-stdin
  sf login --url https://files.example.com --with-token < token.txt
The new token is named "sf on <hostname>"; \`sf logout\` revokes it. CI needs no login: set SF_URL and SF_TOKEN.`,
    )
    .action((opts: LoginOptions) => login(ctx, opts));

  program
    .command("logout")
    .description("revoke this profile's token on the server and remove it from the config file")
    .action(() => logout(ctx));

  program
    .command("whoami")
    .description("show the account and server in use")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const sf = await ctx.client();
      const me = await sf.me();
      const r = await ctx.resolve();
      if (opts.json) return printJson(ctx.io, { ...me, url: sf.baseUrl, profile: r.tokenSource === "config" ? r.profileName : null });
      out(ctx.io, clean(me.email));
      const via = r.tokenSource === "env" ? "SF_TOKEN" : `profile ${r.profileName}`;
      info(ctx.io, `${clean(me.name)} <${clean(me.email)}>, ${me.role}, on ${sf.baseUrl} (token from ${via})`);
    });
}

async function login(ctx: Context, opts: LoginOptions): Promise<void> {
  const { io } = ctx;
  const r = await ctx.resolve();
  const tty = canPrompt(io);
  if (opts.withToken && opts.passwordStdin) throw new UsageError("--with-token and --password-stdin cannot be used together");

  let url = ctx.globals().url ?? io.env.SF_URL;
  if (!url && tty) url = await ask(io, "Server URL", r.profile?.url);
  else url ??= r.profile?.url;
  if (!url) throw new UsageError("--url is required (or SF_URL): which server to log in to");
  url = checkUrl(url);
  ctx.errorContext.url = url;
  const anon = ctx.connect(url);

  let token: string;
  let tokenId: string | undefined;
  if (opts.withToken) {
    token = tty && !opts.passwordStdin ? await askHidden(io, "API token") : await readStdinText(io, "--with-token");
    token = token.trim();
    if (!/^sf_[A-Za-z0-9_-]{43}$/.test(token)) throw new UsageError("that does not look like a SpeedyFiles token (sf_ followed by 43 characters)");
  } else {
    let email = opts.email;
    let password: string;
    if (opts.passwordStdin) {
      if (!email) throw new UsageError("--password-stdin needs --email");
      password = await readStdinText(io, "--password-stdin");
    } else if (tty) {
      email ||= await ask(io, "Email", r.profile?.email);
      password = await askHidden(io, "Password");
    } else {
      throw new UsageError("stdin is not a terminal: use --email EMAIL --password-stdin (password on stdin), or --with-token (token on stdin)");
    }
    if (!email) throw new UsageError("an email is required");
    if (!password) throw new UsageError("an empty password");
    const created = await anon.auth.login(email, password, tokenName(io.hostname ?? os.hostname()), {
      ...(opts.expiresInDays ? { expires_in_days: opts.expiresInDays } : {}),
    });
    token = created.token;
    tokenId = created.id;
  }

  // Verify before saving: a token that does not work is never written.
  const sf = ctx.connect(url, token);
  let me: User;
  try {
    me = await sf.me();
  } catch (err) {
    if (err instanceof AuthenticationError) throw new CliError("the server does not accept that token", ExitCode.AUTH, { cause: err });
    throw err;
  }
  if (!tokenId) {
    const prefix = token.slice(0, 11);
    tokenId = (await sf.tokens.list().catch(() => [])).find((t) => t.prefix === prefix)?.id;
  }

  const config = await readConfig(r.configFile);
  const previous = config.profiles[r.profileName];
  const profile: Profile = { url, token, ...(tokenId ? { token_id: tokenId } : {}), email: me.email };
  config.profiles[r.profileName] = profile;
  await writeConfig(r.configFile, config);

  // The token this profile had before would otherwise stay valid forever, unseen.
  if (previous && previous.token !== token && previous.token_id && sameServer(previous.url, url)) {
    await ctx.connect(previous.url, previous.token).tokens.revoke(previous.token_id).catch(() => undefined);
  }
  const where = r.profileName === "default" ? "" : ` (profile ${r.profileName})`;
  info(io, `Logged in to ${url} as ${clean(me.email)}${where}. Token saved in ${r.configFile}.`);
  if (io.env.SF_TOKEN) info(io, "Note: SF_TOKEN is set and takes precedence over the saved token.");
}

/** `sf on <hostname>`, within the server's 100-character limit, without control characters. */
export function tokenName(hostname: string): string {
  const h = hostname.replace(/[\x00-\x1f\x7f]/g, "").trim() || "unknown host";
  return `sf on ${h}`.slice(0, 100);
}

async function logout(ctx: Context): Promise<void> {
  const { io } = ctx;
  const r = await ctx.resolve();
  const config = await readConfig(r.configFile);
  const profile = config.profiles[r.profileName];
  if (!profile) {
    if (io.env.SF_TOKEN) throw new CliError("nothing to log out of: the token comes from SF_TOKEN; unset it (and revoke it with `sf tokens revoke`)", ExitCode.USAGE);
    throw new CliError(`not logged in (no profile "${r.profileName}" in ${r.configFile})`, ExitCode.AUTH);
  }
  ctx.errorContext.url = profile.url;
  const sf = ctx.connect(profile.url, profile.token);
  let revokeError: unknown;
  try {
    const id = profile.token_id ?? (await sf.tokens.list()).find((t) => t.prefix === profile.token.slice(0, 11))?.id;
    if (id) await sf.tokens.revoke(id);
  } catch (err) {
    // Already revoked or expired: nothing left to revoke.
    if (!(err instanceof AuthenticationError)) revokeError = err;
  }
  delete config.profiles[r.profileName];
  await writeConfig(r.configFile, config);
  if (revokeError) {
    throw new CliError(
      `removed the token from ${r.configFile}, but could not revoke it on ${profile.url} (${(revokeError as Error).message}); ` +
        `revoke the token ${profile.token.slice(0, 11)}… from another session`,
      ExitCode.FAILURE,
      { cause: revokeError },
    );
  }
  info(io, `Logged out of ${profile.url}${profile.email ? ` (${clean(profile.email)})` : ""}; the token is revoked and removed.`);
}
