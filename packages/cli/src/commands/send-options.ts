import crypto from "node:crypto";
import path from "node:path";
import { ciIdempotencyKey } from "@speedyfiles/sdk";
import { UsageError } from "../exit-codes.js";
import type { Context } from "../run.js";
import { askHidden, canPrompt, readStdinText } from "../prompt.js";

/** `sf send`'s flags as commander hands them over. */
export interface SendOpts {
  to: string[];
  maxDownloads?: number;
  password?: boolean;
  passwordStdin?: boolean;
  /** `--no-notify`: false; `--notify <who>`: the word given (`all`, `none`). */
  notify?: boolean | string;
  encrypt?: boolean;
  passphrase?: boolean;
  passphraseStdin?: boolean;
  passphraseFile?: string;
  name?: string;
  title?: string;
  message?: string;
  ttl?: number;
  concurrency?: number;
  filename?: string;
  json?: boolean;
  progress: boolean;
  restart?: boolean;
  /** A key, `false` for --no-idempotency-key, undefined: derived in CI. */
  idempotencyKey?: string | false;
  waitForDownload?: string | true;
}

/** A link password the server takes: printable ASCII, no space first or last. */
export const LINK_PASSWORD = /^[!-~](?:[ -~]*[!-~])?$/;

/** The package password: from stdin (--password-stdin) or a hidden prompt, asked twice (--password). */
export async function packagePassword(ctx: Context, opts: SendOpts, stdinTaken: boolean): Promise<string | undefined> {
  const { io } = ctx;
  if (opts.password && opts.passwordStdin) throw new UsageError("--password and --password-stdin cannot be used together");
  let pw: string | undefined;
  if (opts.passwordStdin) {
    if (stdinTaken) throw new UsageError("--password-stdin and `-` both read stdin: use --password (asked on the terminal) instead");
    pw = await readStdinText(io, "--password-stdin");
  } else if (opts.password) {
    if (!canPrompt(io)) throw new UsageError("--password asks on a terminal; without one use --password-stdin");
    pw = await askHidden(io, "Password for the recipients");
    if ((await askHidden(io, "Again, to be sure")) !== pw) throw new UsageError("the two passwords differ; nothing was sent");
  }
  if (pw === undefined) return undefined;
  if (pw.length < 8 || pw.length > 128) throw new UsageError(`the password must be 8 to 128 characters long (got ${pw.length})`);
  // Recipients send it in an HTTP header: bytes, with spaces around trimmed.
  if (!LINK_PASSWORD.test(pw)) {
    throw new UsageError("the password must be printable ASCII: letters, digits, spaces and symbols on a US keyboard (no accents or other scripts), no space first or last");
  }
  return pw;
}

/**
 * The send's idempotency key: `--idempotency-key`, else in CI one derived from the run, the job
 * and what this send is (recipients, paths as given (normalised), title and
 * the other flags; the password only as a hash), so a rerun of the same step answers the same
 * package and two different sends in one job do not collide. None with `--no-idempotency-key`,
 * outside CI, or for data read from stdin (it cannot be known to be the same data).
 */
export function sendKey(ctx: Context, paths: string[], opts: SendOpts, password: string | undefined): string | undefined {
  if (opts.idempotencyKey === false) return undefined;
  // A rerun would answer the first run's package, whose key (or passphrase) this run does not
  // have: an encrypted send is never idempotent; a rerun sends anew.
  if (opts.encrypt) {
    if (typeof opts.idempotencyKey === "string") throw new UsageError("--idempotency-key cannot be used with --encrypt: a rerun could not know the first run's key");
    return undefined;
  }
  if (typeof opts.idempotencyKey === "string") {
    if (!/^[\x21-\x7e]{8,200}$/.test(opts.idempotencyKey)) throw new UsageError("--idempotency-key: 8 to 200 printable ASCII characters without spaces");
    return opts.idempotencyKey;
  }
  if (paths.includes("-")) return undefined;
  return ciIdempotencyKey(
    {
      to: opts.to,
      name: opts.name,
      paths: paths.map((p) => path.normalize(p)),
      title: opts.title,
      message: opts.message,
      ttl: opts.ttl,
      max_downloads: opts.maxDownloads,
      notify: opts.notify ?? true,
      password: password === undefined ? undefined : crypto.createHash("sha256").update(password).digest("hex"),
    },
    ctx.io.env,
  );
}
