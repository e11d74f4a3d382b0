import fsp from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import {
  AbortError,
  identityToRecipient,
  openView,
  parseLink,
  runConcurrently,
  safeFilePath,
  splitLinkKey,
  type DecryptionKey,
  type Encryption,
  type OpenedFile,
  type SpeedyFiles,
} from "@speedyfiles/sdk";
import { CliError, ExitCode, InterruptedError, KEY_MISSING, UsageError } from "../exit-codes.js";
import { openWithPassphrase, profileIdentity } from "../encryption.js";
import { resolveId } from "../ids.js";
import { clean, formatBytes, formatDate, formatDuration, formatRate, formatRelative, info, plural, printJson, printTable, truncateMiddle, type Io } from "../output.js";
import { createView, viewMode } from "../progress.js";
import type { Context } from "../run.js";
import { askHidden, canPrompt, readFirstLine, readStdinText } from "../prompt.js";
import { parsePositiveInt, sha256File } from "./shared.js";

/** A file offered for download, with the checksum it must have. */
export interface RemoteFile {
  id: string;
  name: string;
  size: number;
  sha256: string;
}

/** What is about to be downloaded, shown before anything is fetched. */
export interface Offer {
  /** The package id for your own package; a link does not reveal it. */
  id: string | null;
  title: string;
  /** Who sent it (`Alice <alice@example.com>`), or null for your own package. */
  sender: string | null;
  message: string | null;
  expires_at: string | null;
  files: RemoteFile[];
  /** Encrypted end to end, and opened with what (`key in the link`, …): the names, sizes and message above are the opened ones. */
  encrypted?: { scheme: Encryption["scheme"]; with: string } | undefined;
}

/**
 * Where files come from: a package of your own (by id, with your token) or a magic link (the
 * recipient API, no token). Nothing else in this file tells them apart.
 */
export interface DownloadSource {
  describe(): Promise<Offer>;
  download(file: RemoteFile, dest: string, opts: { onProgress: (bytes: number) => void; signal?: AbortSignal | undefined }): Promise<{ size: number; sha256: string }>;
}

function ownPackage(ctx: Context, sf: SpeedyFiles, id: string, passphrase: string | undefined): DownloadSource {
  let key: DecryptionKey | undefined;
  const opened = new Map<string, OpenedFile>();
  return {
    async describe() {
      const pkg = await sf.packages.get(id);
      let view: { message: string | null; files: RemoteFile[] } = pkg;
      if (pkg.encryption) {
        let o;
        if (pkg.encryption.scheme === "age-scrypt") ({ key, opened: o } = await openWithPassphrase(ctx.io, passphrase, pkg));
        else o = await openView(pkg, (key = { identity: await ownIdentity(ctx, pkg.direction, pkg.encryption) }));
        for (const f of o.files) opened.set(f.id, f);
        view = o;
      }
      const scheme = pkg.encryption?.scheme;
      const encrypted = scheme ? { scheme, with: scheme === "age-scrypt" ? "passphrase" : "your profile's age identity" } : undefined;
      return { id: pkg.id, title: pkg.title, sender: null, message: view.message, expires_at: pkg.expires_at, files: view.files, encrypted };
    },
    download(file, dest, opts) {
      const o = opened.get(file.id);
      return sf.downloadFile(id, file.id, dest, {
        sha256: file.sha256,
        ...(o && key ? { key, file: o } : {}),
        onProgress: (p) => opts.onProgress(p.bytes),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    },
  };
}

/**
 * The identity that opens one of your own encrypted packages: an inbound one was encrypted to the
 * recipient of this profile's identity (`sf request --encrypt` made it); an outbound one's key
 * is only in the links `sf send` printed.
 */
async function ownIdentity(ctx: Context, direction: string, encryption: Encryption): Promise<string> {
  if (direction === "outbound" || !encryption.recipient) {
    throw new CliError(
      "this package was sent encrypted end to end: its key is only in the full links `sf send --encrypt` printed (…#AGE-SECRET-KEY-1…); download it through one of them",
      ExitCode.USAGE,
    );
  }
  const mine = await profileIdentity(ctx);
  const where = mine ? `${mine.configFile} (profile ${mine.profileName})` : undefined;
  if (!mine) {
    const r = await ctx.resolve();
    throw new CliError(
      `the files of this request are encrypted end to end to ${encryption.recipient}, and ${r.configFile} holds no identity for profile ${r.profileName}: ` +
        "open it where the `sf request --encrypt` that made it ran (same config file and profile)",
      ExitCode.AUTH,
    );
  }
  const recipient = await identityToRecipient(mine.identity);
  if (recipient !== encryption.recipient) {
    throw new CliError(
      `the files of this request are encrypted end to end to ${encryption.recipient}, but the identity in ${where} is ${recipient}: ` +
        "open it with the config (and profile) of the `sf request --encrypt` that made it",
      ExitCode.AUTH,
    );
  }
  return mine.identity;
}

/** `https://host/l/<secret>` (parsed by the SDK's parseLink) or the bare 43-character secret. */
export function parseMagicLink(arg: string): { secret: string; base?: string } | undefined {
  if (/^[A-Za-z0-9_-]{43}$/.test(arg)) return { secret: arg };
  try {
    const { baseUrl, secret } = parseLink(arg);
    return { secret, base: baseUrl };
  } catch {
    return undefined;
  }
}

/**
 * A magic link: the recipient API, no token needed (a bare secret uses the configured server).
 * A password-protected link takes the password given (--password-stdin), or asks for it on a
 * terminal when the server says one is needed.
 */
function magicLink(
  sf: SpeedyFiles,
  link: { secret: string; base: string; identity?: string | undefined },
  io: Io,
  given: string | undefined,
  passphrase: { given: string | undefined; fromStdin: boolean },
): DownloadSource {
  const url = `${link.base}/l/${link.secret}`;
  let password = given;
  let key: DecryptionKey | undefined;
  const opened = new Map<string, OpenedFile>();
  const withPassword = () => (password !== undefined ? { password } : {});
  if (given !== undefined && !/^[ -~]*$/.test(given)) {
    throw new UsageError("a link password is printable ASCII (no accents or other scripts): check what was piped to --password-stdin");
  }
  // On a terminal: a mistyped password is asked again, 3 tries in all (each wrong one counts
  // toward the link's limit on the server, which answers 429 after a few).
  const askPassword = async () => {
    for (let attempt = 1; ; attempt++) {
      password = await askHidden(io, "Password for this link");
      if (!/^[ -~]*$/.test(password)) {
        if (attempt >= 3) throw new UsageError("a link password is printable ASCII: letters, digits, spaces and symbols, no accents");
        info(io, "A link password has only letters, digits, spaces and symbols (no accents); try again.");
        continue;
      }
      try {
        return await sf.links.get(url, withPassword());
      } catch (err) {
        if ((err as { code?: string }).code !== "link_password_wrong" || attempt >= 3) throw err;
        info(io, "That password is wrong; try again.");
      }
    }
  };
  return {
    async describe() {
      let view;
      try {
        view = await sf.links.get(url, withPassword());
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== "link_password_required" || password !== undefined) throw err;
        if (!canPrompt(io)) {
          // Stdin already carries the passphrase: the password needs it, so the passphrase moves to a file.
          const how = passphrase.fromStdin ? " and give the passphrase with --passphrase-file <path>" : "";
          throw new UsageError(`this link needs a password: pipe it in with --password-stdin${how}`);
        }
        view = await askPassword();
      }
      if (view.direction !== "outbound") {
        throw new CliError("this is an upload link: it asks you for files and has none to download (use `sf upload <link> <files…>`)", ExitCode.CONFLICT);
      }
      const sender = view.sender_name && view.sender_name !== view.sender_email ? `${view.sender_name} <${view.sender_email}>` : view.sender_email;
      let contents: { message: string | null; files: RemoteFile[] } = view;
      if (view.encryption) {
        let o;
        if (view.encryption.scheme === "age-scrypt") {
          ({ key, opened: o } = await openWithPassphrase(io, passphrase.given, view));
        } else {
          // The emailed link has no key: say where it comes from (DecryptionError "key_missing").
          if (!link.identity) throw new CliError(KEY_MISSING, ExitCode.USAGE);
          o = await openView(view, (key = { identity: link.identity }));
        }
        for (const f of o.files) opened.set(f.id, f);
        contents = o;
      }
      // Files this link already downloaded as often as the sender allowed are left out.
      const usedUp = new Set(view.used_up_file_ids ?? []);
      return {
        id: null,
        title: view.title,
        sender,
        message: contents.message,
        expires_at: view.expires_at,
        files: contents.files.filter((f) => !usedUp.has(f.id)),
        encrypted: view.encryption ? { scheme: view.encryption.scheme, with: view.encryption.scheme === "age-scrypt" ? "passphrase" : "key in the link" } : undefined,
      };
    },
    download(file, dest, opts) {
      const o = opened.get(file.id);
      return sf.links.downloadFile(url, o ?? file, dest, {
        ...withPassword(),
        ...(o && key ? { key } : {}),
        onProgress: (p) => opts.onProgress(p.bytes),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    },
  };
}

interface DownloadOpts {
  output: string;
  concurrency: number;
  force?: boolean;
  list?: boolean;
  json?: boolean;
  progress: boolean;
  passwordStdin?: boolean;
  passphraseStdin?: boolean;
  passphraseFile?: string;
}

export function registerDownload(program: Command, ctx: Context): void {
  program
    .command("download <link-or-id>")
    .description("download every file of a package: resumable, SHA-256 verified")
    .option("-o, --output <dir>", "directory to write into (created if missing)", ".")
    .option("--concurrency <n>", "files downloaded at once", parsePositiveInt, 4)
    .option("--force", "overwrite local files that differ")
    .option("--list", "only show what the package holds (files on stdout); download nothing")
    .option("--json", "print only the result as JSON on stdout (with --list: the package and its files)")
    .option("--no-progress", "no progress display")
    .option("--password-stdin", "the link's password, read from stdin (on a terminal sf asks when one is needed)")
    .option("--passphrase-stdin", "an encrypted package's passphrase, read from stdin (on a terminal sf asks when one is needed)")
    .option("--passphrase-file <path>", "an encrypted package's passphrase: the first line of this file (stdin stays free for --password-stdin)")
    .addHelpText(
      "after",
      `
A password-protected link asks for its password on a terminal (hidden); scripts pipe it in:
  printf '%s' "$PW" | sf download https://files.example.com/l/… --password-stdin
Files the link already served as often as the sender allowed (--max-downloads) are skipped.
Files keep their relative paths under the output directory. An interrupted download leaves
<file>.part behind and continues from there next time; each file is checked against its
SHA-256 before it is renamed into place. A file already there with the right checksum is
skipped; one with different content is an error unless --force.
Before it starts, sf shows who sent the package, its title, message, expiry and files.
A magic link (or its bare secret, with the server from --url / SF_URL / your profile) needs no
login; a package id (or any unique start of one, at least 4 characters) downloads one of your
own packages with your token.

An encrypted package (\`sf send --encrypt\`) is decrypted as it downloads: its names and
message are shown opened, each file is checked against its plaintext SHA-256 and only then put
in place; a wrong key or a tampered file leaves nothing behind (an interrupted encrypted
download starts over). The key is the end of the full link the sender gave you, after \`#\`
(…/l/<secret>#AGE-SECRET-KEY-1…): the emailed link has none. Quote the link, as any URL:
  sf download 'https://files.example.com/l/…#AGE-SECRET-KEY-1…'
A package encrypted to a passphrase asks for it on a terminal; scripts pipe it in:
  printf '%s' "$PASSPHRASE" | sf download https://files.example.com/l/… --passphrase-stdin
A link with a password as well: the password on stdin, the passphrase from a file (first line):
  printf '%s' "$PW" | sf download https://files.example.com/l/… --password-stdin --passphrase-file pp.txt
Files uploaded to your \`sf request --encrypt\` are opened with the identity that command keeps
in your config file (per profile): \`sf download <package id>\`.`,
    )
    .action((arg: string, opts: DownloadOpts) => download(ctx, arg, opts));
}

async function download(ctx: Context, arg: string, opts: DownloadOpts): Promise<void> {
  const { io } = ctx;
  if (opts.passwordStdin && opts.passphraseStdin) {
    throw new UsageError("--password-stdin and --passphrase-stdin both read stdin: give the passphrase with --passphrase-file <path>, or one of them on the terminal when sf asks");
  }
  if (opts.passphraseStdin && opts.passphraseFile !== undefined) throw new UsageError("--passphrase-stdin and --passphrase-file cannot be used together");
  // `…/l/<secret>#AGE-SECRET-KEY-1…`: the key travels after `#` (never to the server).
  const split = splitLinkKey(arg);
  const link = parseMagicLink(split.link);
  // Given up front (stdin can be read once); asked for only when the package turns out to need it.
  const passphrase = {
    given: opts.passphraseStdin
      ? await readStdinText(io, "--passphrase-stdin")
      : opts.passphraseFile !== undefined
        ? await readFirstLine(opts.passphraseFile, "--passphrase-file")
        : undefined,
    fromStdin: opts.passphraseStdin === true,
  };
  let source: DownloadSource;
  if (link) {
    // A whole link names its server; a bare secret uses the configured one. No token either way.
    const anon = link.base ? ctx.connect(link.base) : await ctx.client({ auth: false });
    const password = opts.passwordStdin ? await readStdinText(io, "--password-stdin") : undefined;
    source = magicLink(anon, { secret: link.secret, base: anon.baseUrl, identity: split.identity }, io, password, passphrase);
  } else if (/^[0-9a-f][0-9a-f-]*$/i.test(split.link)) {
    if (opts.passwordStdin) throw new UsageError("--password-stdin is for magic links; your own packages need no password");
    const sf = await ctx.client();
    source = ownPackage(ctx, sf, await resolveId(ctx, sf, "package", split.link), passphrase.given);
  } else {
    // Never the part after `#`: it may be a key.
    throw new UsageError(`"${split.link}" is neither a magic link nor a package id`);
  }

  const pkg = await source.describe();
  const files = [...pkg.files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (opts.list) {
    if (opts.json) {
      return printJson(io, {
        id: pkg.id,
        title: pkg.title,
        sender: pkg.sender,
        message: pkg.message,
        expires_at: pkg.expires_at,
        encryption: pkg.encrypted ? { scheme: pkg.encrypted.scheme } : null,
        files,
      });
    }
    showOffer(io, pkg, { files: false });
    printTable(
      io,
      [
        { header: "NAME", shrink: "middle", min: 12 },
        { header: "SIZE", align: "right" },
      ],
      files.map((f) => [f.name, formatBytes(f.size)]),
    );
    return;
  }
  if (!opts.json) showOffer(io, pkg, { files: true });
  const outDir = path.resolve(opts.output);
  const plan = files.map((f) => ({ file: f, dest: safeFilePath(outDir, f.name) }));

  // Decide what to skip before transferring anything, so a conflict fails fast.
  const todo: typeof plan = [];
  const skipped: typeof plan = [];
  for (const item of plan) {
    const st = await fsp.stat(item.dest).catch(() => undefined);
    if (!st) todo.push(item);
    else if (st.isFile() && st.size === item.file.size && (await sha256File(item.dest)) === item.file.sha256) skipped.push(item);
    else if (opts.force && st.isFile()) todo.push(item);
    else throw new CliError(`${item.dest} already exists with different content (use --force to overwrite)`, ExitCode.CONFLICT);
  }

  const totalBytes = todo.reduce((n, x) => n + x.file.size, 0);
  const view = await createView(io, viewMode(io, opts), {
    title: `Downloading ${todo.length === plan.length ? plural(todo.length, "file") : `${todo.length} of ${plural(plan.length, "file")}`} (${formatBytes(totalBytes)}) to ${outDir}`,
    verb: "downloaded",
    totalFiles: todo.length,
    totalBytes,
  });
  const started = performance.now();
  const results: { name: string; path: string; size: number; sha256: string }[] = [];
  try {
    await runConcurrently(
      todo,
      opts.concurrency,
      async ({ file, dest }, signal) => {
        // Started at its first progress: a resumed .part reports the bytes it already has first.
        let begun = false;
        const onProgress = (b: number) => (begun ? view.progress(file.name, b) : ((begun = true), view.start(file.name, file.size, b)));
        const r = await source.download(file, dest, { onProgress, signal });
        view.done(file.name, r.size);
        results.push({ name: file.name, path: dest, size: r.size, sha256: r.sha256 });
      },
      io.signal,
    );
  } catch (failure) {
    view.fail();
    if (failure instanceof AbortError || io.signal?.aborted) {
      // A plaintext is never kept half-written: an encrypted file starts over (docs/cli.md).
      throw new InterruptedError(`interrupted: run the same command again to ${pkg.encrypted ? "start the unfinished files over" : "resume"}`);
    }
    throw failure;
  }
  const ms = performance.now() - started;
  const skippedNote = skipped.length ? `, ${skipped.length} already there` : "";
  view.finish(
    opts.json || todo.length === 0
      ? undefined
      : `Downloaded ${plural(results.length, "file")} (${formatBytes(totalBytes)}) in ${formatDuration(ms)}, ${formatRate(totalBytes / Math.max(ms / 1000, 0.001))}${skippedNote}; checksums verified`,
  );
  if (opts.json) {
    printJson(io, {
      id: pkg.id,
      title: pkg.title,
      output: outDir,
      files: [
        ...results.map((r) => ({ ...r, skipped: false })),
        ...skipped.map((s) => ({ name: s.file.name, path: s.dest, size: s.file.size, sha256: s.file.sha256, skipped: true })),
      ],
    });
  } else if (todo.length === 0) {
    info(io, plan.length === 1 ? `The file of "${clean(pkg.title)}" is already in ${outDir}.` : `All ${plan.length} files of "${clean(pkg.title)}" are already in ${outDir}.`);
  }
}

const OFFER_FILES = 10;

/**
 * The header on stderr before a download: who sent what, the message, until when, and the files
 * (the first 10; `--list` shows them all).
 */
function showOffer(io: Io, pkg: Offer, opts: { files: boolean }): void {
  const total = pkg.files.reduce((n, f) => n + f.size, 0);
  info(io, `"${clean(pkg.title)}"${pkg.sender ? ` from ${clean(pkg.sender)}` : ""}`);
  if (pkg.encrypted) info(io, `Encrypted end to end (${pkg.encrypted.with}): names and message below are decrypted here`);
  if (pkg.message) for (const line of pkg.message.split(/\r?\n/)) info(io, `  ${clean(line)}`);
  if (pkg.expires_at) info(io, `Expires ${formatDate(pkg.expires_at)} (${formatRelative(pkg.expires_at)})`);
  info(io, `${plural(pkg.files.length, "file")}, ${formatBytes(total)}${opts.files && pkg.files.length > 0 ? ":" : ""}`);
  if (!opts.files) return;
  const names = [...pkg.files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const width = Math.max(20, (io.stderr.columns ?? 80) - 14);
  for (const f of names.slice(0, OFFER_FILES)) info(io, `  ${truncateMiddle(clean(f.name), width).padEnd(Math.min(width, 40))}  ${formatBytes(f.size).padStart(9)}`);
  if (names.length > OFFER_FILES) info(io, `  … and ${names.length - OFFER_FILES} more (--list shows them all)`);
}
