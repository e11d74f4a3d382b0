import { Command, CommanderError, Option } from "commander";
import { SpeedyFiles, type TokenProvider } from "@speedyfiles/sdk";
import { hintFlags, resolveChunkSize, resolveConfig, resolveRetryWindow, resolveTimeout, type GlobalFlags, type Resolved } from "./config.js";
import { federation, type Federation } from "./ci.js";
import { CliError, describeError, EXIT_CODES_HELP, ExitCode, exitCodeFor, isCleanExit, UsageError, type ErrorContext } from "./exit-codes.js";
import { paint, useColor, type Io } from "./output.js";
import { registerAuth } from "./commands/auth.js";
import { registerTokens } from "./commands/tokens.js";
import { registerSend } from "./commands/send.js";
import { registerRequest } from "./commands/request.js";
import { registerPackages } from "./commands/packages.js";
import { registerDownload } from "./commands/download.js";
import { registerUpload } from "./commands/upload.js";
import { registerCompletion } from "./commands/completion.js";
import { registerWebhooks } from "./commands/webhooks.js";
import { registerAdminTrust } from "./commands/admin-trust.js";
import { registerAdminUsers } from "./commands/admin-users.js";
import { registerPassword } from "./commands/password.js";
import { registerAdminPolicy } from "./commands/admin-policy.js";
import { registerAdminEvents } from "./commands/admin-events.js";

export type { Io } from "./output.js";
export { ExitCode, EXIT_CODES_HELP } from "./exit-codes.js";

/** What every command gets: the io and lazy access to config and an SDK client. */
export interface Context {
  io: Io;
  /** `--url` / `--profile` wherever they were given. */
  globals(): GlobalFlags;
  /**
   * ` --profile work --url …`: the flags a command printed as a hint must keep, so that it runs
   * against the same profile and server ("" when none was given).
   */
  hintFlags(): string;
  /** Flags → SF_URL/SF_TOKEN → config file (read once). */
  resolve(): Promise<Resolved>;
  /** A client for the resolved server; with `auth` (the default) it must have a token, else exit 3. */
  client(opts?: { auth?: boolean }): Promise<SpeedyFiles>;
  /** A client for a given server and token (or token provider), with the run's settings (--timeout, SF_RETRY_WINDOW). */
  connect(url: string, token?: string, tokenProvider?: TokenProvider): SpeedyFiles;
  /** Set by `client()` when it authenticates with the CI job's OIDC identity (no stored token). */
  federation?: Federation | undefined;
  /** Filled in as the command learns where it talks to, for error hints. */
  errorContext: ErrorContext;
}

import { VERSION } from "./version.js";

export { VERSION };

const ENV_HELP = `Environment:
  SF_URL           server URL (overrides the profile's)
  SF_TOKEN         API token (overrides the profile's; with SF_URL set the config file is not read)
  SF_PROFILE       profile name (default "default")
  SF_TIMEOUT       seconds, as --timeout
  SF_RETRY_WINDOW  seconds a call keeps trying while the server is unavailable (refused
                   connections, 502/503/504: a restart or a deploy); default 30, 0: off
  SF_OIDC_AUDIENCE in a CI job: the audience of the OIDC ID token, as --oidc-audience
  SF_ID_TOKEN      in GitLab CI (id_tokens:) or any pipeline: an OIDC ID token to exchange
  SF_CHUNK_MIB     resumable uploads (files of 64 MiB or more) send at most this many MiB per
                   request (default: the rest of the file in one); for a proxy that caps bodies
  XDG_CONFIG_HOME  config directory (default ~/.config); the file is speedyfiles/config.json, mode 0600
  NO_COLOR         no colours
  FORCE_COLOR      colours even when piped (0 or false: never)
  CI               set: never prompt (use the flags instead)
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY   proxies, as curl reads them`;

/** Builds the `sf` program for one run (commander keeps state, so never share one). */
export function buildProgram(ctx: Context): Command {
  const program = new Command("sf");
  program
    .description("SpeedyFiles: send files securely from the command line")
    .version(VERSION, "-V, --version", "print the version")
    .option("--url <url>", "server URL (default: SF_URL, then the profile's)")
    .option("--profile <name>", 'config profile (default: SF_PROFILE or "default")')
    .option(
      "--timeout <seconds>",
      "give up when the server does not answer, or a transfer moves no byte, for this long (default: SF_TIMEOUT, else 30 for answers and 60 for transfers)",
    )
    .option("--oidc", "in a CI job: exchange the job's OIDC ID token for a short-lived token (the default when no token is set)")
    .option("--oidc-audience <aud>", "in a CI job: the audience of the ID token (default: SF_OIDC_AUDIENCE, else the server's origin)")
    // Not a flag: caught to say how a token is given (stdin or SF_TOKEN), never echoing it.
    .addOption(new Option("--token [token]").hideHelp())
    .helpOption("-h, --help", "show help")
    .helpCommand("help [command]", "show help for a command")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void ctx.io.stdout.write(s),
      writeErr: (s) => void ctx.io.stderr.write(s),
      outputError: (s, write) => write(paint(useColor(ctx.io)).red(s)),
    })
    .showSuggestionAfterError(true)
    .addHelpText("after", `\n${EXIT_CODES_HELP}\n\n${ENV_HELP}\n`)
    .hook("preAction", () => {
      if ((program.opts() as { token?: unknown }).token === undefined) return;
      // A token typed as an argument stays in the shell history and in `ps`: sf reads it from
      // stdin (or SF_TOKEN) instead, and never repeats it here.
      throw new UsageError(
        `sf has no --token flag (a token on the command line stays in your shell history): ` +
          `\`echo "$TOKEN" | sf login --with-token${ctx.hintFlags()}\` saves it, or set SF_TOKEN (with SF_URL) to use it without saving`,
      );
    });
  registerAuth(program, ctx);
  registerTokens(program, ctx);
  registerSend(program, ctx);
  registerRequest(program, ctx);
  registerPackages(program, ctx);
  registerDownload(program, ctx);
  registerUpload(program, ctx);
  registerWebhooks(program, ctx);
  registerAdminTrust(program, ctx);
  registerAdminUsers(program, ctx);
  registerPassword(program, ctx);
  registerAdminPolicy(program, ctx);
  registerAdminEvents(program, ctx);
  registerCompletion(program, ctx);
  return program;
}

/** Errors carry the context they happened in (which token, which server) to bin.ts's report. */
const contexts = new WeakMap<object, ErrorContext>();

/**
 * Runs `sf` with `argv` (the arguments after `sf`). Resolves when the command succeeded; throws
 * otherwise — never exits the process: bin.ts turns the error into a message and an exit code.
 */
export async function run(argv: string[], io: Io): Promise<void> {
  let program: Command | undefined;
  let resolved: Promise<Resolved> | undefined;
  const ctx: Context = {
    io,
    errorContext: {},
    globals: () => (program?.opts() ?? {}) as GlobalFlags,
    hintFlags: () => hintFlags(ctx.globals()),
    resolve: () => (resolved ??= resolveConfig(ctx.globals(), io.env)),
    async client(opts = {}) {
      const r = await ctx.resolve();
      ctx.errorContext.url = r.url;
      ctx.errorContext.tokenSource = r.tokenSource;
      const login = `sf login${ctx.hintFlags()}`;
      const fed = opts.auth === false ? undefined : federation(ctx.globals(), r, io.env);
      if (!r.url) {
        if (fed) throw new CliError(`${fed.identity.name} job: set SF_URL (or --url) to the SpeedyFiles server to exchange its ID token with`, ExitCode.AUTH);
        throw new CliError(`not logged in: run \`${login}\` (or set SF_URL and SF_TOKEN)`, ExitCode.AUTH);
      }
      if (fed) {
        ctx.federation = fed;
        ctx.errorContext.tokenSource = "oidc";
        return ctx.connect(r.url, undefined, fed.provider);
      }
      if (opts.auth !== false && !r.token) {
        const why = r.profile && r.urlSource !== "config" ? ` (the saved token is for ${r.profile.url}, not ${r.url})` : "";
        throw new CliError(`not logged in to ${r.url}${why}: run \`${login}\` (or set SF_TOKEN)`, ExitCode.AUTH);
      }
      return ctx.connect(r.url, opts.auth === false ? undefined : r.token);
    },
    connect(url, token, tokenProvider) {
      const ms = resolveTimeout(ctx.globals(), io.env);
      const windowMs = resolveRetryWindow(io.env);
      ctx.errorContext.retryWindowMs = windowMs;
      ctx.errorContext.timeoutFlag = ms !== undefined;
      // With an explicit baseUrl the SDK never falls back to SF_TOKEN: the token is only ever ours.
      const chunkSize = resolveChunkSize(io.env);
      return new SpeedyFiles({
        baseUrl: url,
        ...(token ? { token } : {}),
        ...(tokenProvider ? { tokenProvider } : {}),
        ...(windowMs !== undefined ? { retryWindowMs: windowMs } : {}),
        ...(ms !== undefined ? { timeoutMs: ms, stallTimeoutMs: ms } : {}),
        ...(chunkSize !== undefined ? { resumable: { chunkSize } } : {}),
      });
    },
  };
  program = buildProgram(ctx);
  try {
    // `sf` alone: the help, on stdout, exit 0 (as `gh`; a person asked what sf can do).
    if (argv.length === 0) return program.outputHelp();
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (isCleanExit(err)) return;
    if (err && typeof err === "object") contexts.set(err, { ...ctx.errorContext, ...safeHintFlags(ctx), debug: !!io.env.SF_DEBUG });
    throw err;
  }
}

/** The hint flags for the error report (none when the command line itself did not parse). */
function safeHintFlags(ctx: Context): Pick<ErrorContext, "hintFlags" | "profileFlag"> {
  try {
    const { profile } = ctx.globals();
    return { hintFlags: ctx.hintFlags(), profileFlag: hintFlags({ profile }) };
  } catch {
    return {};
  }
}

/**
 * Prints the one-line error for a failed run on stderr and returns its exit code. Usage errors
 * were already printed by commander.
 */
export function reportError(err: unknown, io: Io): number {
  const code = exitCodeFor(err);
  if (err instanceof CommanderError) {
    if (code !== ExitCode.OK) io.stderr.write("Run `sf help` for usage.\n");
    return code;
  }
  const ctx: ErrorContext = (err && typeof err === "object" && contexts.get(err)) || {};
  const p = paint(useColor(io));
  io.stderr.write(`${p.red("error:")} ${describeError(err, ctx)}\n`);
  for (const note of ctx.notes ?? []) io.stderr.write(`${note}\n`);
  if (ctx.debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return code;
}

/** run() + reportError(): the exit code a run ends with (what bin.ts does, for tests). */
export async function main(argv: string[], io: Io): Promise<number> {
  try {
    await run(argv, io);
    return ExitCode.OK;
  } catch (err) {
    return reportError(err, io);
  }
}
