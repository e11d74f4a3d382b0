import { DecryptionError, generateIdentity, identityToRecipient, openView, type DecryptionKey, type OpenedFile } from "@speedyfiles/sdk";
import { readConfig, writeConfig } from "./config.js";
import { CliError, ExitCode, UsageError } from "./exit-codes.js";
import { info, type Io } from "./output.js";
import { askHidden, canPrompt, readFirstLine, readStdinText } from "./prompt.js";
import type { Context } from "./run.js";

/** A passphrase age takes well: long enough to resist guessing with scrypt's help, and a size that stays reasonable. */
function checkPassphrase(p: string): string {
  if (p.length < 8) throw new UsageError(`the passphrase must be at least 8 characters long (got ${p.length})`);
  if (p.length > 1024) throw new UsageError("the passphrase must be at most 1024 characters long");
  return p;
}

/**
 * `sf send --encrypt`'s passphrase: from stdin (--passphrase-stdin), the first line of a file
 * (--passphrase-file, for when stdin carries the link password), or asked twice on a terminal
 * without echo (--passphrase). Undefined when none was given (key-in-the-link mode).
 */
export async function sendPassphrase(
  io: Io,
  opts: { encrypt?: boolean; passphrase?: boolean; passphraseStdin?: boolean; passphraseFile?: string; passwordStdin?: boolean },
  stdinTaken: boolean,
): Promise<string | undefined> {
  const given = [opts.passphrase && "--passphrase", opts.passphraseStdin && "--passphrase-stdin", opts.passphraseFile !== undefined && "--passphrase-file"].filter(
    (f): f is string => typeof f === "string",
  );
  if (given.length === 0) return undefined;
  if (!opts.encrypt) throw new UsageError(`${given[0]} sets the passphrase of an encrypted package: add --encrypt`);
  if (given.length > 1) throw new UsageError(`${given.join(" and ")} cannot be used together`);
  if (opts.passphraseFile !== undefined) return checkPassphrase(await readFirstLine(opts.passphraseFile, "--passphrase-file"));
  if (opts.passphraseStdin) {
    if (stdinTaken) throw new UsageError("--passphrase-stdin and `-` both read stdin: give the passphrase with --passphrase-file <path>, or --passphrase (asked on the terminal)");
    if (opts.passwordStdin) {
      throw new UsageError(
        "--passphrase-stdin and --password-stdin both read stdin: give the passphrase with --passphrase-file <path>, or ask for one of them on the terminal (--passphrase or --password)",
      );
    }
    return checkPassphrase(await readStdinText(io, "--passphrase-stdin"));
  }
  if (!canPrompt(io)) throw new UsageError("--passphrase asks on a terminal; without one use --passphrase-stdin or --passphrase-file <path>");
  const p = checkPassphrase(await askHidden(io, "Passphrase for the files (the recipients need it)"));
  if ((await askHidden(io, "Again, to be sure")) !== p) throw new UsageError("the two passphrases differ; nothing was sent");
  return p;
}

/**
 * Opens a view encrypted to a passphrase, for `sf download`: with the one given (stdin or file;
 * a wrong one is final), or asked on a terminal (hidden), where a mistyped one is asked again,
 * 3 tries in all, as a link password is.
 */
export async function openWithPassphrase<V extends Parameters<typeof openView>[0]>(
  io: Io,
  given: string | undefined,
  view: V,
): Promise<{ key: DecryptionKey; opened: V & { files: OpenedFile[] } }> {
  if (given !== undefined) {
    const key = { passphrase: given };
    return { key, opened: await openView(view, key) };
  }
  if (!canPrompt(io)) {
    throw new CliError(
      "this package is encrypted with a passphrase: pipe it in with --passphrase-stdin, or give it with --passphrase-file <path> (the sender gives it to you)",
      ExitCode.USAGE,
    );
  }
  for (let attempt = 1; ; attempt++) {
    const key = { passphrase: await askHidden(io, "Passphrase of the files") };
    try {
      return { key, opened: await openView(view, key) };
    } catch (err) {
      if (!(err instanceof DecryptionError) || err.code !== "passphrase_wrong" || attempt >= 3) throw err;
      info(io, "That passphrase is wrong; try again.");
    }
  }
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
