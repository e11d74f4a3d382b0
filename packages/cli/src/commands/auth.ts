import os from "node:os";
import type { Command } from "commander";
import {
  ApiError,
  AuthenticationError,
  NetworkError,
  PermissionError,
  policyRuleInWords,
  TimeoutError,
  UnexpectedResponseError,
  type EffectivePolicy,
  type PolicyLimit,
  type PolicyRuleName,
  type User,
} from "@speedyfiles/sdk";
import { checkUrl, readConfig, sameServer, writeConfig, type Profile } from "../config.js";
import { CliError, describeError, ExitCode, InterruptedError, UsageError } from "../exit-codes.js";
import { check } from "../flags.js";
import { clean, formatBytes, formatLimit, info, out, paint, printJson, useColor } from "../output.js";
import { ask, askHidden, canPrompt, inCi, readStdinText } from "../prompt.js";
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
The new token is named "sf on <hostname>"; \`sf logout\` revokes it. CI needs no login: set SF_URL and SF_TOKEN.
A server that uses single sign-on may not take passwords: sign in on its web page, create a token
under Account → API tokens, and log in with --with-token.`,
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
      // Best effort: a server without GET /me/policy (or failing it) still says who you are.
      const policy = await sf.me.policy().catch(() => undefined);
      const r = await ctx.resolve();
      const fed = ctx.federation;
      const minted = fed?.provider.current(sf.baseUrl);
      const federated = fed
        ? { provider: fed.identity.provider, audience: fed.provider.audienceFor(sf.baseUrl), scopes: minted?.scopes ?? [], expires_at: minted?.expiresAt.toISOString() ?? null }
        : null;
      if (opts.json) return printJson(ctx.io, { ...me, url: sf.baseUrl, profile: r.tokenSource === "config" && !fed ? r.profileName : null, federated, policy: policy ?? null });
      out(ctx.io, clean(me.email));
      const via = fed
        ? `federation: this ${fed.identity.name} job's OIDC ID token (audience ${federated!.audience}) exchanged for a short-lived one${minted ? ` with ${minted.scopes.join(", ") || "no scopes"}, renewed before it expires` : ""}`
        : r.tokenSource === "env"
          ? "SF_TOKEN"
          : `profile ${r.profileName}`;
      info(ctx.io, `${clean(me.name)} <${clean(me.email)}>, ${me.role}, on ${sf.baseUrl} (token from ${via})`);
      for (const line of policySummary(policy)) info(ctx.io, line);
    });
}

/**
 * `Storage: 1.2 GiB of 50 GiB used (48.8 GiB left)` and the admin policy's other rules in one
 * sentence, so that a limit is known before a send runs into it. Nothing without rules.
 */
export function policySummary(policy: EffectivePolicy | undefined): string[] {
  if (!policy?.rules) return [];
  const { rules, quota_used_bytes: used } = policy;
  const lines: string[] = [];
  if (rules.quota_bytes_per_user != null) {
    const left = Math.max(0, rules.quota_bytes_per_user - used);
    lines.push(`Storage: ${formatBytes(used)} of ${formatLimit(rules.quota_bytes_per_user)} used (${formatBytes(left)} left)`);
  }
  const clauses = (Object.keys(rules) as PolicyRuleName[])
    .filter((rule) => rule !== "quota_bytes_per_user" && rules[rule] !== null && rules[rule] !== false)
    .map((rule, i) => {
      const words = policyRuleInWords(rule, rules[rule] as PolicyLimit);
      return i === 0 ? words : words.replace(/^this server /, "");
    });
  if (clauses.length > 0) lines.push(`Admin policy: ${clauses.join("; ")}.`.replace(/^Admin policy: t/, "Admin policy: T"));
  return lines;
}

async function login(ctx: Context, opts: LoginOptions): Promise<void> {
  const { io } = ctx;
  ctx.errorContext.fieldFlags = { email: "--email", expires_in_days: "--expires-in-days" };
  if (opts.withToken && opts.passwordStdin) throw new UsageError("--with-token and --password-stdin cannot be used together");
  check.email("--email", opts.email);
  check.range("--expires-in-days", opts.expiresInDays, 1, 3650);
  const r = await ctx.resolve();
  const tty = canPrompt(io);

  // The server is checked (GET /api/v1/health) right after its URL, before any secret is asked
  // for: a typo or a proxy page is named at once, and a terminal asks again.
  const given = ctx.globals().url ?? io.env.SF_URL;
  let url: string;
  if (!given && tty) url = await askServer(ctx, r.profile?.url);
  else {
    const input = given ?? r.profile?.url;
    if (!input) throw new UsageError(`--url is required (or SF_URL): which server to log in to${inCi(io) ? " (CI is set: sf asks nothing)" : ""}`);
    url = await findServer(ctx, input);
  }
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
      const why = inCi(io) ? "CI is set, so sf asks nothing" : "stdin is not a terminal";
      throw new UsageError(`${why}: use --email EMAIL --password-stdin (password on stdin), or --with-token (token on stdin)`);
    }
    if (!email) throw new UsageError("an email is required");
    check.email(opts.email ? "--email" : "the email", email);
    if (!password) throw new UsageError("an empty password");
    let created;
    try {
      created = await anon.auth.login(email, password, tokenName(io.hostname ?? os.hostname()), {
        ...(opts.expiresInDays ? { expires_in_days: opts.expiresInDays } : {}),
      });
    } catch (err) {
      // Not "run sf login": this is sf login.
      if (err instanceof AuthenticationError) throw new CliError(`wrong email or password for ${url} (401)`, ExitCode.AUTH, { cause: err });
      // SF_PASSWORD_LOGIN=false on the server: people sign in through single sign-on, in a browser.
      if (err instanceof PermissionError && err.code === "password_login_disabled") {
        throw new CliError(
          `${url} does not take passwords (it uses single sign-on): sign in on the web, create a token at ${url}/account/tokens, then run: sf login --url ${url} --with-token < token.txt`,
          ExitCode.AUTH,
          { cause: err },
        );
      }
      throw err;
    }
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
    await ctx
      .connect(previous.url, previous.token)
      .tokens.revoke(previous.token_id)
      .catch(() => undefined);
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

/**
 * The server a person means: `https://files.example.com`, or just `files.example.com:8443` /
 * `localhost:8080` (tried as https, then http). It must answer GET /api/v1/health as a SpeedyFiles
 * server does; otherwise the error says what answered instead.
 */
export async function findServer(ctx: Context, input: string): Promise<string> {
  const raw = input.trim();
  if (!raw) throw new UsageError("a server URL is needed, e.g. https://files.example.com");
  const schemeGiven = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw);
  const candidates = schemeGiven ? [checkUrl(raw)] : [checkUrl(`https://${raw}`), checkUrl(`http://${raw}`)];
  const failures: [string, unknown][] = [];
  for (const url of candidates) {
    const sf = ctx.connect(url);
    try {
      // A probe: no retry window (a wrong host or scheme must not take 30 s to say so).
      const h = await sf.health({ timeoutMs: Math.min(sf.timeouts.timeoutMs, 15_000), retryWindowMs: 0 });
      if (typeof h?.status !== "string" || typeof h.version !== "string") {
        throw new UnexpectedResponseError({
          status: 200,
          contentType: "application/json",
          method: "GET",
          url: `${url}/api/v1/health`,
          reason: "got JSON that is not a health report",
        });
      }
      if (!schemeGiven && url.startsWith("http:")) {
        info(ctx.io, `Using ${url}: it has no TLS, so the password travels unencrypted${/^http:\/\/(localhost|127\.|\[::1\])/.test(url) ? " (fine on this machine)" : ""}.`);
      }
      return url;
    } catch (err) {
      // A server that answers but says it is unwell is still the right server: say so.
      if (err instanceof ApiError && err.status === 503)
        throw new CliError(`the SpeedyFiles server at ${url} is up but unavailable (its database or storage is unreachable)`, ExitCode.FAILURE, { cause: err });
      if (!(err instanceof NetworkError || err instanceof TimeoutError || err instanceof UnexpectedResponseError || err instanceof ApiError)) throw err;
      failures.push([url, err]);
    }
  }
  if (failures.length === 1) throw failures[0]![1];
  const why = failures.map(([url, err]) => `${url}: ${briefly(err)}`).join("; ");
  throw new CliError(`no SpeedyFiles server at ${raw} (${why}) — check the host and port`, ExitCode.FAILURE, { cause: failures[0]![1] });
}

/** Why a server candidate did not do, in a few words. */
function briefly(err: unknown): string {
  if (err instanceof UnexpectedResponseError) return `got ${err.contentType.split(";")[0] || "no content type"} (HTTP ${err.status})`;
  if (err instanceof TimeoutError) return "no answer in time";
  if (err instanceof ApiError) return `HTTP ${err.status}`;
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 8; e = e.cause as typeof e, i++) {
    if (typeof e.code === "string" && !e.code.startsWith("UND_ERR")) return `cannot connect (${e.code})`;
  }
  return "cannot connect";
}

/** Asks for the server until one answers as SpeedyFiles (Ctrl-C or Ctrl-D stops). */
async function askServer(ctx: Context, def: string | undefined): Promise<string> {
  const p = paint(useColor(ctx.io));
  for (;;) {
    const input = await ask(ctx.io, "Server URL", def);
    try {
      return await findServer(ctx, input);
    } catch (err) {
      if (!(err instanceof Error) || err instanceof InterruptedError) throw err;
      info(ctx.io, `${p.red("error:")} ${describeError(err, { url: input.trim() })}`);
      info(ctx.io, "Try again (Ctrl-C to stop).");
    }
  }
}
