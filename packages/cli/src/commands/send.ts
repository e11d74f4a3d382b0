import fs from "node:fs/promises";
import type { Command } from "commander";
import { AbortError, expandPaths, openView, type FinalizedPackage } from "@speedyfiles/sdk";
import { sendPassphrase } from "../encryption.js";
import { InterruptedError, ttlHints, UsageError, type PolicyHints } from "../exit-codes.js";
import { check } from "../flags.js";
import { clean, formatBytes, formatDate, formatDuration, formatRate, info, isTty, out, paint, plural, printJson, useColor } from "../output.js";
import { createView, viewMode } from "../progress.js";
import type { Context } from "../run.js";
import { mailStateOf, parsePositiveInt } from "./shared.js";
import { parseWaitDuration, waitForRecipients, waitTimedOut } from "./wait-for-download.js";
import { readSendState, removeSendState, sendStateFile, writeSendState, type SendState } from "../send-state.js";
import { packagePassword, sendKey, type SendOpts } from "./send-options.js";
import { defaultConcurrency, progressAdapter } from "./send-progress.js";

export { LINK_PASSWORD } from "./send-options.js";
export { defaultConcurrency, progressAdapter } from "./send-progress.js";

export function registerSend(program: Command, ctx: Context): void {
  program
    .command("send <paths...>")
    .description("send files and directories to someone: uploads them and prints the download link")
    .requiredOption("--to <email>", "recipient's email (they get their own link by mail); repeat for several (up to 50)", collect, [])
    .option("--name <name>", "recipient's name (with one --to)")
    .option("--max-downloads <n>", "each file can be downloaded completely at most n times per recipient (1-1000)", parsePositiveInt)
    .option("--password", "protect the files with a password, asked for on the terminal (hidden)")
    .option("--password-stdin", "protect the files with a password read from stdin")
    .option("--notify <who>", "all: the server emails each recipient their link and you their downloads (default); none: no email at all, share the links yourself")
    .option("--no-notify", "no email to you when a recipient first downloads, or uses up their downloads")
    .option("--encrypt", "encrypt end to end (age): the server stores only ciphertext; the key is in each printed link after `#`")
    .option("--passphrase", "with --encrypt: encrypt to a passphrase, asked for on the terminal (hidden), instead of a key in the link")
    .option("--passphrase-stdin", "with --encrypt: encrypt to a passphrase read from stdin")
    .option("--passphrase-file <path>", "with --encrypt: encrypt to the passphrase on the first line of this file (stdin stays free for --password-stdin)")
    .option("--title <title>", "package title (default: the file name, or “N files”)")
    .option("--message <text>", "message for the recipient")
    .option("--ttl <days>", "days the link works (default 7)", parsePositiveInt)
    .option("--concurrency <n>", "files uploaded at once (default 4, or 16 when the files average under 1 MiB)", parsePositiveInt)
    .option("--filename <name>", "name for the data read from stdin (path `-`)")
    .option("--json", "print only the final JSON on stdout (no progress)")
    .option("--no-progress", "no progress display")
    .option("--restart", "start afresh instead of resuming an interrupted send of the same files")
    .option(
      "--idempotency-key <key>",
      "running the same send again with this key (within 24 hours) answers the first one's package instead of sending twice (default in CI: derived from the run and job)",
    )
    .option("--no-idempotency-key", "in CI: send again on a rerun, a new package each time")
    .option("--wait-for-download [duration]", "after sending, wait until every recipient has downloaded every file (default 24h; e.g. =90s, =2h); exit 6 if the time passes")
    .addHelpText(
      "after",
      `
Directories are sent recursively and keep their relative paths under the directory's own name
(\`sf send ./reports\` → reports/q1.pdf, reports/2024/q4.pdf). Hidden files (.env, .git/…) ARE
included: they are part of what you named, so check before sending a whole project. Symbolic
links to files are followed (their target's bytes are sent under the link's name); links to
directories are skipped, so a link cycle cannot loop. \`-\` reads stdin (needs --filename).

On a terminal a live display shows each file in flight and the total; otherwise one line per
finished file goes to stderr. The link is printed last, on stdout. Ctrl-C stops the uploads and
exits 130, keeping the unfinished package as a draft (never sent): the same command resumes it,
\`--restart\` starts over, \`sf packages delete <id>\` removes it (data from stdin cannot be read
again, so that draft is deleted).

Files of 64 MiB or more are sent resumably (tus): a dropped connection or a server restart is
resumed from the last byte the server stored, by itself (SF_CHUNK_MIB caps a request's size for
a proxy that limits bodies). If \`sf send\` itself is stopped (or such an upload gives up), the same
command run again resumes the unfinished package and its partial uploads instead of starting over (state in
$XDG_STATE_HOME/speedyfiles/, keyed by the server, the paths and the files' sizes and mtimes);
\`--restart\` starts afresh.

In a CI job (GitHub Actions, GitLab CI) a send is idempotent by default: its key is derived from
the run and the job (GitHub: GITHUB_RUN_ID and GITHUB_JOB, not the attempt; GitLab:
CI_PIPELINE_ID and CI_JOB_NAME) and a hash of the recipients, paths, title and other flags, so a
retried step or a re-run job prints the link of the package the first run sent (finishing it if
that run was cut off) instead of sending a second. \`--idempotency-key KEY\` picks the key
anywhere; \`--no-idempotency-key\` sends anew each time.

Each --to gets a link of their own: separate download counts and audit trail, revocable alone
(\`sf packages revoke <id> --recipient EMAIL\`). With --max-downloads a file stops downloading
through a link once it was fetched completely that many times (the zip counts for every file in
it); opening the page never counts. A password (8-128 characters) is asked for on the download
page and by \`sf download\`; the server keeps only a hash of it. Send it to the recipients some
other way than the email. You get an email the first time each recipient completes a download
(--no-notify: none).

Examples:
  sf send ./report.pdf --to cfo@acme.com --ttl 3
  sf send ./q4 --to cfo@acme.com --to audit@acme.com --max-downloads 1 --password
  printf '%s' "$PW" | sf send ./q4 --to cfo@acme.com --password-stdin
  tar cz dist | sf send - --filename dist.tar.gz --to qa@acme.com --json
  sf send ./build.zip --to qa@acme.com --wait-for-download=2h
  sf send ./q4 --to cfo@acme.com --encrypt
  printf '%s' "$PASSPHRASE" | sf send ./q4 --to cfo@acme.com --encrypt --passphrase-stdin
  printf '%s' "$PW" | sf send ./q4 --to cfo@acme.com --password-stdin --encrypt --passphrase-file pp.txt

End-to-end encryption (--encrypt): every file, its name, size and type, and the message are
encrypted on this machine with age (https://age-encryption.org) before they leave it; the
server stores ciphertext and sees only the title (with --encrypt it defaults to "N files",
never a name), the recipients, the number of files and their sizes. By default a fresh key is made for the package and each printed link carries it
after \`#\` (…/l/<secret>#AGE-SECRET-KEY-1…): the server never gets it, so the emails it sends
carry the link WITHOUT the key. Send each recipient their full link yourself, another way
(--notify none: the server sends no email at all). With --passphrase, --passphrase-stdin or
--passphrase-file (its first line; for when stdin carries the link password) the files are encrypted to a passphrase instead: the emailed link works as is and the recipients
type the passphrase (on the page, or \`sf download\` asks); give it to them another way. The key
and the passphrase are never written to disk: an interrupted encrypted send cannot be resumed
(its draft is deleted; run it again to start afresh with a new key), and it is never idempotent
in CI (a rerun sends anew).

--wait-for-download waits, after the link is printed, until every recipient has downloaded every
file through their own link at least once (each file alone or the zip, in any mix), printing a
line on stderr as each one does; then exits 0. If the time passes first it exits 6 (the package
stays sent). Give the duration with \`=\` (\`--wait-for-download=90s\`), or put the flag after the
paths: a bare word right after it is read as the duration. With --json the output waits too and
adds \`downloads: [{recipient_email, completed_at}]\`.`,
    )
    .action((paths: string[], opts: SendOpts) => send(ctx, paths, opts));
}

/** API fields of a send and the flags that set them. */
const SEND_FLAGS = {
  recipient_email: "--to",
  recipients: "--to",
  recipient_name: "--name",
  title: "--title",
  message: "--message",
  ttl_days: "--ttl",
  max_downloads: "--max-downloads",
  password: "--password",
};

/** What to change in `sf send` to keep to a rule of the admin policy it broke. */
const SEND_POLICY_HINTS: PolicyHints = {
  require_password: "add --password (or --password-stdin)",
  require_encryption: "add --encrypt",
  ...ttlHints("--ttl"),
  max_recipients: ({ limit }) => (typeof limit === "number" ? `send to at most ${limit} --to at once` : "send to fewer --to at once"),
  // (The server's own refusal already says what to do.)
  quota_bytes_per_user: ({ refusedBy }) =>
    refusedBy === "client" ? "delete packages you no longer need (`sf packages list`, `sf packages delete`) or ask an admin for more" : undefined,
};

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function send(ctx: Context, paths: string[], opts: SendOpts): Promise<void> {
  const { io } = ctx;
  // Flags first, in their own names, before any directory is walked or anything created.
  ctx.errorContext.fieldFlags = SEND_FLAGS;
  ctx.errorContext.policyHints = SEND_POLICY_HINTS;
  if (opts.to.length === 0) throw new UsageError("--to is required");
  for (const to of opts.to) check.email("--to", to);
  if (opts.to.length > 50) throw new UsageError("at most 50 recipients (--to) per package");
  if (opts.name && opts.to.length > 1) throw new UsageError("--name names the one recipient; with several --to leave it out");
  check.range("--max-downloads", opts.maxDownloads, 1, 1000);
  check.length("--name", opts.name, 1, 200);
  check.length("--title", opts.title, 1, 200);
  check.length("--message", opts.message, 0, 5000);
  check.range("--ttl", opts.ttl, 1, 365);
  const waitMs = opts.waitForDownload === undefined ? undefined : parseWaitDuration(opts.waitForDownload);
  const useStdin = paths.includes("-");
  const files = paths.filter((p) => p !== "-");
  if (paths.filter((p) => p === "-").length > 1) throw new UsageError("`-` (stdin) can be given only once");
  if (useStdin) {
    if (!opts.filename) throw new UsageError("reading stdin (`-`) needs --filename NAME");
    if (!io.stdin || isTty(io.stdin)) throw new UsageError("`-` reads stdin, but stdin is a terminal: pipe the data in");
  } else if (opts.filename) {
    throw new UsageError("--filename only names data read from stdin (`-`)");
  }
  // Missing paths are a usage error (exit 2), found before anything is created on the server.
  for (const p of files) {
    await fs.stat(p).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${p}: ${err.code === "ENOENT" ? "no such file or directory" : (err.code ?? err.message)}`);
    });
  }
  const local = await expandPaths(files).catch((err: Error) => {
    throw new UsageError(err.message);
  });
  if (useStdin && local.some((f) => f.name === opts.filename)) throw new UsageError(`two files would both be named "${opts.filename}"`);
  const count = local.length + (useStdin ? 1 : 0);
  if (count === 0) throw new UsageError("nothing to send: the directories are empty");
  if (opts.notify !== undefined && typeof opts.notify === "string" && !["all", "none"].includes(opts.notify)) {
    throw new UsageError(`--notify takes all or none (got "${opts.notify}")`);
  }
  const mailNone = opts.notify === "none";
  const password = await packagePassword(ctx, opts, useStdin);
  const passphrase = await sendPassphrase(io, opts, useStdin);
  const encrypt = opts.encrypt ? (passphrase !== undefined ? { passphrase } : true) : undefined;
  const idempotencyKey = sendKey(ctx, paths, opts, password);

  const sf = await ctx.client();
  const totalBytes = local.reduce((n, f) => n + f.size, 0);
  const mode = viewMode(io, opts);
  const what = plural(count, "file");
  const view = await createView(io, mode, {
    title: `Sending ${what}${useStdin ? "" : ` (${formatBytes(totalBytes)})`} to ${opts.to.join(", ")}`,
    verb: "sent",
    totalFiles: count,
    totalBytes,
  });

  // Resuming: the state an interrupted send of the same files left (not for stdin, which cannot be
  // read again, nor for an encrypted send, whose key or passphrase is never written to disk).
  const stateFile = useStdin || encrypt ? undefined : await sendStateFile(io.env, sf.baseUrl, files, local);
  let state: SendState | undefined = stateFile ? await readSendState(stateFile) : undefined;
  if (state && opts.restart) {
    if (state.packageId) await sf.packages.delete(state.packageId).catch(() => undefined);
    state = undefined;
  }
  const saving: SendState = { version: 1, server: sf.baseUrl, uploads: { ...(state?.uploads ?? {}) }, ...(state?.packageId ? { packageId: state.packageId } : {}) };
  // One write at a time, each of the state as it is then: a slow older write never lands last.
  let saved: Promise<void> = Promise.resolve();
  const save = () => (saved = saved.then(() => (stateFile ? writeSendState(stateFile, saving).catch(() => undefined) : undefined)));

  const started = performance.now();
  let result: FinalizedPackage;
  let key: string | undefined;
  let sentBytes = 0;
  let resumedBytes = 0;
  const stored = { files: 0, bytes: 0 };
  try {
    const r = await sf.send({
      files,
      expanded: local,
      ...(useStdin ? { sources: [{ name: opts.filename!, source: io.stdin! }] } : {}),
      to: opts.to.length === 1 ? opts.to[0]! : opts.to,
      ...(opts.name ? { recipient_name: opts.name } : {}),
      ...(opts.maxDownloads ? { max_downloads: opts.maxDownloads } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(opts.notify === false || mailNone ? { notify_on_download: false } : {}),
      ...(mailNone ? { notify_recipients: false } : {}),
      ...(encrypt ? { encrypt } : {}),
      // The server sees the title: an encrypted package's is never a file or folder name by default.
      ...(opts.title ? { title: opts.title } : encrypt ? { title: plural(count, "file") } : {}),
      ...(opts.message ? { message: opts.message } : {}),
      ...(opts.ttl ? { ttl_days: opts.ttl } : {}),
      concurrency: opts.concurrency ?? defaultConcurrency(local.length, totalBytes),
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
      onProgress: progressAdapter(
        view,
        (b) => (sentBytes = b),
        (size) => ((stored.files += 1), (stored.bytes += size)),
        (b) => (resumedBytes = b),
        !!encrypt,
      ),
      ...(stateFile
        ? {
            resume: {
              packageId: state?.packageId,
              uploads: state?.uploads,
              keepDraft: true,
              onPackage: (id: string) => {
                saving.packageId = id;
                void save();
              },
              onUpload: (name: string, url: string) => {
                saving.uploads[name] = url;
                void save();
              },
            },
          }
        : {}),
    });
    result = r.package;
    key = r.key;
    if (stateFile) await removeSendState(stateFile);
  } catch (err) {
    view.fail();
    const stopped = err instanceof AbortError || !!io.signal?.aborted;
    const again = ctx.hintFlags();
    const kept = (err as { resumablePackageId?: string }).resumablePackageId;
    const left = (id: string) => `The unfinished package ${id} (${stored.files} of ${plural(count, "file")}, ${formatBytes(stored.bytes)} uploaded)`;
    if (kept) {
      // Kept (Ctrl-C, or a resumable upload that gave up): the same command resumes it; it is
      // never sent unless finished.
      await save();
      (ctx.errorContext.notes ??= []).push(
        stopped
          ? `${left(kept)} is kept as a draft (never sent). To remove it for good:`
          : `${left(kept)} is kept as a draft (never sent): run the same command again to resume it (--restart starts afresh), or remove it:`,
        `  sf packages delete ${kept} --yes${again}`,
      );
      if (stopped) throw new InterruptedError("stopped; run the same command to resume, or add `--restart` to start over");
    } else if (stateFile && !(err as { orphanedPackageId?: string }).orphanedPackageId) {
      // The draft was deleted (a failure): nothing is left to resume. (A draft that could not be
      // deleted keeps its state: the same command resumes it.)
      await removeSendState(stateFile);
    }
    const orphan = (err as { orphanedPackageId?: string }).orphanedPackageId;
    if (orphan) {
      // The send failed and so did deleting its draft (the server went away): say what is left
      // and how to remove it, instead of leaving it there silently.
      (ctx.errorContext.notes ??= []).push(
        `${left(orphan)} could not be deleted: it stays on the server as a draft (never sent). Remove it once the server answers again:`,
        `  sf packages delete ${orphan} --yes${again}`,
      );
    }
    if (stopped) {
      // Only a send without saved state gets here (stdin cannot be read again): its draft is gone.
      throw new InterruptedError(orphan ? "interrupted: uploads stopped" : "interrupted: uploads stopped, the unfinished package was deleted");
    }
    throw err;
  }
  const ms = performance.now() - started;
  // Encrypted: the server's sizes are the ciphertext's; the files' own total is what was sent.
  const bytes = (encrypt && !useStdin ? totalBytes : result.files.reduce((n, f) => n + f.size, 0)) || sentBytes;
  // A resumed send: the speed is of the bytes this run sent, not of what was already there.
  const now = Math.max(0, bytes - resumedBytes);
  const part = resumedBytes > 0 ? `; ${formatBytes(now)} of it in this run` : "";
  view.finish(opts.json ? undefined : `Sent ${what} (${formatBytes(bytes)}${part}) in ${formatDuration(ms)}, ${formatRate(now / Math.max(ms / 1000, 0.001))}`);

  const waited = waitMs === undefined || !opts.json ? undefined : await waitForRecipients(await ctx.client(), io, result.id, waitMs);
  if (opts.json) {
    printJson(io, {
      id: result.id,
      title: result.title,
      recipient_email: result.recipient_email,
      status: result.status,
      magic_link: result.magic_link,
      expires_at: result.expires_at,
      email_sent: result.email_sent,
      email_error: result.email_error,
      max_downloads: result.max_downloads ?? null,
      password_protected: result.password_protected ?? false,
      links: result.links.map((l) => ({
        id: l.id,
        recipient_email: l.recipient_email,
        magic_link: l.magic_link,
        mail_state: mailStateOf(l),
        email_sent: l.email_sent,
        email_error: l.email_error,
      })),
      // Encrypted: the names opened with the key (the server has opaque ones); with a passphrase,
      // the server's view (opening each file's entry would cost a scrypt run each).
      files: (key ? (await openView(result, { identity: key })).files : result.files).map((f) => ({ id: f.id, name: f.name, size: f.size, sha256: f.sha256 })),
      encryption: result.encryption ? { scheme: result.encryption.scheme } : null,
      ...(waited ? { downloads: waited.downloads.map((d) => ({ recipient_email: d.recipient_email, completed_at: d.completed_at })) } : {}),
    });
    if (waited && !waited.complete) throw waitTimedOut(waited, waitMs!);
    return;
  }
  const p = paint(useColor(io));
  const rules = [
    result.max_downloads ? `each file at most ${result.max_downloads === 1 ? "once" : `${result.max_downloads} times`} per recipient` : "",
    result.password_protected ? "password protected" : "",
    result.encryption ? "encrypted end to end" : "",
  ].filter(Boolean);
  const who = result.links.length === 1 ? clean(result.links[0]!.recipient_email) : `${result.links.length} recipients`;
  info(
    io,
    `Package ${result.id} for ${who}, ${result.links.length === 1 ? "link" : "links"} valid until ${formatDate(result.expires_at)}${rules.length ? ` (${rules.join(", ")})` : ""}.`,
  );
  // Mail is queued by the server and sent in the background (`sf packages show` tells when it went).
  for (const l of result.links) {
    if (mailNone) continue;
    const state = mailStateOf(l);
    if (state === "failed")
      info(io, p.yellow(`The email to ${clean(l.recipient_email)} was not sent${l.email_error ? ` (${clean(l.email_error)})` : ""}: share the link yourself.`));
    else info(io, `Email to ${clean(l.recipient_email)} ${state === "sent" ? "sent" : "queued"}.`);
  }
  // One recipient: the link alone (as before); several: one "email<TAB>link" line each.
  if (result.links.length <= 1) out(io, result.magic_link);
  else for (const l of result.links) out(io, `${l.recipient_email}\t${l.magic_link}`);
  if (key) {
    const each = result.links.length === 1 ? "the link" : "each recipient their own link";
    info(
      io,
      p.yellow(
        `Encrypted end to end: ${result.links.length === 1 ? "the link ends" : "each link ends"} with its key (#AGE-SECRET-KEY-1…). ` +
          (mailNone
            ? `The server sent no email: send ${each} yourself, whole.`
            : `The server's ${result.links.length === 1 ? "email carries" : "emails carry"} the link without the key: send ${each} yourself, whole, another way.`),
      ),
    );
  } else if (encrypt) {
    info(
      io,
      `Encrypted end to end with your passphrase: ${mailNone ? "share the link yourself; it" : "the emailed link"} works as is; give the passphrase to the recipients another way.`,
    );
  }
  if (mailNone && !key) info(io, "The server sent no email (--notify none): share the link yourself.");
  if (waitMs !== undefined) {
    const outcome = await waitForRecipients(await ctx.client(), io, result.id, waitMs);
    if (!outcome.complete) throw waitTimedOut(outcome, waitMs);
  }
}
