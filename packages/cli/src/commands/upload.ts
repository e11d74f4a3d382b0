import fsp from "node:fs/promises";
import type { Command } from "commander";
import { AbortError, expandPaths, runConcurrently, type LinkCompletion, type LinkView, type LocalFile } from "@speedyfiles/sdk";
import { CliError, ExitCode, InterruptedError, UsageError } from "../exit-codes.js";
import { clean, formatBytes, formatDate, formatDuration, formatRate, formatRelative, info, plural, printJson } from "../output.js";
import { createView, viewMode } from "../progress.js";
import type { Context } from "../run.js";
import { parseMagicLink } from "./download.js";
import { parsePositiveInt, sha256File } from "./shared.js";

interface UploadOpts {
  done?: boolean;
  concurrency: number;
  json?: boolean;
  progress: boolean;
}

export function registerUpload(program: Command, ctx: Context): void {
  program
    .command("upload <link> [paths...]")
    .description("upload files through an upload link someone sent you (the other half of `sf request`)")
    .option("--done", "then tell the person who asked that you are finished (they get an email)")
    .option("--concurrency <n>", "files uploaded at once", parsePositiveInt, 4)
    .option("--json", "print only the result as JSON on stdout")
    .option("--no-progress", "no progress display")
    .addHelpText(
      "after",
      `
No account needed: the link is the permission. Directories are sent recursively and keep their
relative paths, as with \`sf send\`. Files already uploaded through the link (same name and
content) are skipped, so after an interruption the same command uploads the rest.
A link of \`sf request --encrypt\` encrypts each file, its name and size here, to the key of
the person who asked, before it is sent (sf says so); the server cannot read them. Its files
cannot be compared with yours (the names are opaque to you too), so a second run sends all again.

Examples:
  sf upload https://files.example.com/l/<secret> invoice-1.pdf invoice-2.pdf
  sf upload https://files.example.com/l/<secret> ./scans --done
  sf upload https://files.example.com/l/<secret> --done        # only say you are finished`,
    )
    .action((link: string, paths: string[], opts: UploadOpts) => upload(ctx, link, paths, opts));
}

async function upload(ctx: Context, arg: string, paths: string[], opts: UploadOpts): Promise<void> {
  const { io } = ctx;
  const link = parseMagicLink(arg);
  if (!link) throw new UsageError(`"${arg}" is not a SpeedyFiles link (https://…/l/<secret>)`);
  if (paths.length === 0 && !opts.done) throw new UsageError("name the files to upload (or give --done to say you are finished)");
  // Local paths are checked before anything goes over the network.
  for (const p of paths) {
    await fsp.stat(p).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${p}: ${err.code === "ENOENT" ? "no such file or directory" : (err.code ?? err.message)}`);
    });
  }
  const local = await expandPaths(paths).catch((err: Error) => {
    throw new UsageError(err.message);
  });
  if (paths.length > 0 && local.length === 0) throw new UsageError("nothing to upload: the directories are empty");

  const sf = link.base ? ctx.connect(link.base) : await ctx.client({ auth: false });
  const url = `${sf.baseUrl}/l/${link.secret}`;
  const view = await sf.links.get(url);
  if (view.direction !== "inbound") {
    throw new CliError("this is a download link: it has files for you and takes none (use `sf download <link>`)", ExitCode.CONFLICT);
  }
  if (!opts.json) showRequest(ctx, view);

  // Already there (a run that was interrupted): same name, size and SHA-256. Not on an encrypted
  // link: its names are opaque and only the person who asked can open them, so all is sent again.
  const encrypted = !!view.encryption;
  const there = new Map(encrypted ? [] : view.files.map((f) => [f.name, f]));
  const todo: LocalFile[] = [];
  const skipped: LocalFile[] = [];
  for (const f of local) {
    const have = there.get(f.name);
    if (have && have.size === f.size && have.sha256 === (await sha256File(f.path))) skipped.push(f);
    else todo.push(f);
  }

  const totalBytes = todo.reduce((n, f) => n + f.size, 0);
  const uploaded: { name: string; size: number; sha256: string | null }[] = [];
  if (todo.length > 0) {
    const display = await createView(io, viewMode(io, opts), {
      title: `Uploading ${plural(todo.length, "file")} (${formatBytes(totalBytes)})${encrypted ? ", encrypted," : ""} for ${clean(view.sender_email)}`,
      verb: "uploaded",
      totalFiles: todo.length,
      totalBytes,
    });
    const started = performance.now();
    try {
      await runConcurrently(
        todo,
        opts.concurrency,
        async (f, signal) => {
          display.start(f.name, f.size);
          const r = await sf.links.upload(url, f.path, { name: f.name, signal, onProgress: (p) => display.progress(f.name, p.bytes) });
          display.done(f.name, encrypted ? f.size : r.size);
          // Encrypted: the server's name, size and SHA-256 are the ciphertext's; the name and size
          // are the file's own (its SHA-256 travels sealed, checked by the one who opens it).
          uploaded.push(encrypted ? { name: f.name, size: f.size, sha256: null } : { name: r.name, size: r.size, sha256: r.sha256 });
        },
        io.signal,
      );
    } catch (err) {
      display.fail();
      if (err instanceof AbortError || io.signal?.aborted) {
        throw new InterruptedError(`interrupted: ${uploaded.length} of ${plural(todo.length, "file")} uploaded; the same command uploads the rest`);
      }
      if (uploaded.length > 0) (ctx.errorContext.notes ??= []).push(`${uploaded.length} of ${plural(todo.length, "file")} uploaded; the same command uploads the rest.`);
      throw err;
    }
    const ms = performance.now() - started;
    display.finish(
      opts.json
        ? undefined
        : `Uploaded ${plural(uploaded.length, "file")} (${formatBytes(totalBytes)}) in ${formatDuration(ms)}, ${formatRate(totalBytes / Math.max(ms / 1000, 0.001))}; checksums verified${encrypted ? "; encrypted end to end" : ""}`,
    );
  }
  if (skipped.length > 0 && !opts.json) info(io, `${skipped.length} ${skipped.length === 1 ? "file was" : "files were"} already uploaded.`);

  let completion: LinkCompletion | undefined;
  if (opts.done) {
    completion = await sf.links.complete(url);
    if (!opts.json) info(io, doneMessage(view, completion));
  } else if (!opts.json && local.length > 0) {
    info(io, "When you have sent everything: sf upload <link> --done");
  }
  if (opts.json) {
    printJson(io, {
      title: view.title,
      files: [...uploaded.map((u) => ({ ...u, skipped: false })), ...skipped.map((s) => ({ name: s.name, size: s.size, skipped: true }))],
      completed: completion !== undefined,
      ...(completion ? { new_files: completion.new_files, email_sent: completion.email_sent, email_error: completion.email_error } : {}),
    });
  }
}

/**
 * What `--done` did, from the server's answer: the owner is emailed only about files that arrived
 * since the last "done" (`new_files`); with none, nothing is sent and nothing failed.
 */
function doneMessage(before: LinkView, r: LinkCompletion): string {
  const who = clean(before.sender_name || before.sender_email);
  if (r.new_files === 0) {
    return before.completed_at ? "Nothing new since you last said you were done: no email sent." : `Nothing was uploaded through this link yet, so ${who} was not told anything.`;
  }
  const what = `${plural(r.new_files, "new file")}`;
  if (r.email_sent) return `Told ${who} you are done (by email, ${what}).`;
  const why = r.email_error ? ` (${clean(r.email_error)})` : "";
  return `Marked done (${what}), but the email to ${who} could not be sent${why}: tell them yourself.`;
}

/** Who asked, for what, until when: on stderr before anything is sent. */
function showRequest(ctx: Context, view: LinkView): void {
  const from = view.sender_name && view.sender_name !== view.sender_email ? `${view.sender_name} <${view.sender_email}>` : view.sender_email;
  info(ctx.io, `"${clean(view.title)}": ${clean(from)} asks you for files`);
  if (view.message) for (const line of view.message.split(/\r?\n/)) info(ctx.io, `  ${clean(line)}`);
  if (view.expires_at) info(ctx.io, `Open until ${formatDate(view.expires_at)} (${formatRelative(view.expires_at)})`);
  if (view.encryption) {
    info(ctx.io, `Encrypted end to end: each file, its name and size are encrypted here to ${clean(from)}'s key before they are sent; the server cannot read them.`);
  }
  if (view.completed_at) info(ctx.io, `Already marked done ${formatDate(view.completed_at)}; more files can still be added.`);
}
