import { generateIdentity, identityToRecipient } from "@speedyfiles/sdk";
import { readConfig, writeConfig } from "./config.js";
import { CliError, ExitCode, UsageError } from "./exit-codes.js";
import type { Io } from "./output.js";
import { askHidden, canPrompt, readStdinText } from "./prompt.js";
import type { Context } from "./run.js";

/** A passphrase age takes well: long enough to resist guessing with scrypt's help, and a size that stays reasonable. */
function checkPassphrase(p: string): string {
  if (p.length < 8) throw new UsageError(`the passphrase must be at least 8 characters long (got ${p.length})`);
  if (p.length > 1024) throw new UsageError("the passphrase must be at most 1024 characters long");
  return p;
}

/**
 * `sf send --encrypt`'s passphrase: from stdin (--passphrase-stdin) or asked twice on a terminal
 * without echo (--passphrase). Undefined when neither was given (key-in-the-link mode).
 */
export async function sendPassphrase(
  io: Io,
  opts: { encrypt?: boolean; passphrase?: boolean; passphraseStdin?: boolean; passwordStdin?: boolean },
  stdinTaken: boolean,
): Promise<string | undefined> {
  if (!opts.passphrase && !opts.passphraseStdin) return undefined;
  const flag = opts.passphrase ? "--passphrase" : "--passphrase-stdin";
  if (!opts.encrypt) throw new UsageError(`${flag} sets the passphrase of an encrypted package: add --encrypt`);
  if (opts.passphrase && opts.passphraseStdin) throw new UsageError("--passphrase and --passphrase-stdin cannot be used together");
  if (opts.passphraseStdin) {
    if (stdinTaken) throw new UsageError("--passphrase-stdin and `-` both read stdin: use --passphrase (asked on the terminal) instead");
    if (opts.passwordStdin) throw new UsageError("--passphrase-stdin and --password-stdin both read stdin: ask for one of them on the terminal (--passphrase or --password)");
    return checkPassphrase(await readStdinText(io, "--passphrase-stdin"));
  }
  if (!canPrompt(io)) throw new UsageError("--passphrase asks on a terminal; without one use --passphrase-stdin");
  const p = checkPassphrase(await askHidden(io, "Passphrase for the files (the recipients need it)"));
  if ((await askHidden(io, "Again, to be sure")) !== p) throw new UsageError("the two passphrases differ; nothing was sent");
  return p;
}

/** The passphrase of an encrypted link, for `sf download`: given on stdin, or asked (hidden). */
export async function downloadPassphrase(io: Io, given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  if (!canPrompt(io)) {
    throw new CliError("this package is encrypted with a passphrase: pipe it in with --passphrase-stdin (the sender gives it to you)", ExitCode.USAGE);
  }
  return askHidden(io, "Passphrase of the files");
}

/** The age identity of the profile in use (made by `sf request --encrypt`), or undefined. */
export async function profileIdentity(ctx: Context): Promise<{ identity: string; profileName: string; configFile: string } | undefined> {
  const r = await ctx.resolve();
  const identity = (await readConfig(r.configFile, ctx.hintFlags())).identities?.[r.profileName];
  return identity ? { identity, profileName: r.profileName, configFile: r.configFile } : undefined;
}

/**
 * The profile's age identity and its recipient (`age1…`), made and saved (config file, 0600) on
 * first use. Read again just before writing, so a login in between is kept.
 */
export async function ensureProfileIdentity(ctx: Context): Promise<{ recipient: string; created: boolean; profileName: string; configFile: string }> {
  const r = await ctx.resolve();
  const have = (await readConfig(r.configFile, ctx.hintFlags())).identities?.[r.profileName];
  if (have) return { recipient: await identityToRecipient(have), created: false, profileName: r.profileName, configFile: r.configFile };
  const { identity, recipient } = await generateIdentity();
  const config = await readConfig(r.configFile, ctx.hintFlags());
  config.identities = { ...config.identities, [r.profileName]: identity };
  await writeConfig(r.configFile, config);
  return { recipient, created: true, profileName: r.profileName, configFile: r.configFile };
}
