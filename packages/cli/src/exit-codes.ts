import { CommanderError } from "commander";
import { describeFieldErrors, type FieldFlags } from "./flags.js";
import { formatSeconds } from "./output.js";
import { ruleInWords } from "./policy-words.js";
import {
  AbortError,
  ApiError,
  AuthenticationError,
  ChecksumError,
  ConflictError,
  DecryptionError,
  FederatedAuthError,
  GoneError,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionError,
  PolicyViolationError,
  RateLimitError,
  TimeoutError,
  UnexpectedResponseError,
  ValidationError,
} from "@speedyfiles/sdk";

/**
 * Exit codes, one per failure class (GitHub CLI's `gh help exit-codes` idea). Scripts branch on
 * these, so they never change meaning; new classes get new numbers.
 */
export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  AUTH: 3,
  NOT_FOUND: 4,
  CONFLICT: 5,
  /** `sf send --wait-for-download`: the time passed before every recipient downloaded. */
  WAIT_TIMEOUT: 6,
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The text `sf help` and the README show. */
export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    failure (network, server error, checksum mismatch, anything else)
  2    usage: unknown command or flag, missing argument, a flag value sf checks itself
       (--to must be an email address), an ambiguous id prefix, unreadable local path
  3    not authenticated (401: no, invalid, expired or revoked token) or forbidden (403)
  4    not found (404, or 410 for an expired or revoked link)
  5    conflict (409) or rejected input (422 validation, 413 too large), or refused by
       the server's admin policy (file size, quota, recipients, link lifetime, password or
       encryption required), checked before the upload where sf can
  6    \`sf send --wait-for-download\`: the time passed before every recipient had
       downloaded every file (the package was sent; its link still works)
  130  interrupted (Ctrl-C); an unfinished \`sf send\` is kept as a draft: the same command
       resumes it (one reading stdin, or encrypted, is deleted)
An encrypted package that cannot be opened: 2 without its key or passphrase, 3 with a
wrong one, 1 when a file was tampered with (no plaintext file is written).
\`sf\` alone prints this help and exits 0.`;

/** A failure a person caused and can fix; its message is shown as is (wrangler's UserError). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.FAILURE,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CliError";
  }
}

/** Bad flags or arguments: exit 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.USAGE);
    this.name = "UsageError";
  }
}

/** The user pressed Ctrl-C (or answered no to a confirmation that guards an action). */
export class InterruptedError extends CliError {
  constructor(message = "interrupted") {
    super(message, ExitCode.INTERRUPTED);
    this.name = "InterruptedError";
  }
}

/** Commander reports help/version as a "thrown" exit 0 with exitOverride(). */
export function isCleanExit(err: unknown): boolean {
  return err instanceof CommanderError && err.exitCode === 0;
}

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  if (err instanceof AbortError) return ExitCode.INTERRUPTED;
  if (err instanceof FederatedAuthError) return err.code === "id_token_unavailable" ? ExitCode.FAILURE : ExitCode.AUTH;
  if (err instanceof DecryptionError) return decryptionExitCode(err);
  if (err instanceof AuthenticationError || err instanceof PermissionError) return ExitCode.AUTH;
  if (err instanceof NotFoundError || err instanceof GoneError) return ExitCode.NOT_FOUND;
  if (err instanceof ConflictError || err instanceof ValidationError || err instanceof PayloadTooLargeError) return ExitCode.CONFLICT;
  return ExitCode.FAILURE;
}

/** Rule of the admin policy → what to change in the command to keep to it (or a function of the refusal). */
export type PolicyHints = Partial<Record<PolicyViolationError["rule"], string | ((err: PolicyViolationError) => string | undefined)>>;

/** `--ttl 30 or less` / `--ttl 3 or more` hints for a flag that sets a link's lifetime. */
export function ttlHints(flag: string): PolicyHints {
  return {
    min_ttl_days: ({ limit }) => (typeof limit === "number" ? `give ${flag} ${limit} or more` : `give a longer ${flag}`),
    max_ttl_days: ({ limit }) => (typeof limit === "number" ? `give ${flag} ${limit} or less` : `give a shorter ${flag}`),
  };
}

export interface ErrorContext {
  /** Where the token came from, to say how to fix a 401. */
  tokenSource?: "env" | "config" | "oidc" | "none" | undefined;
  /** SF_RETRY_WINDOW in ms, when set (else the SDK's 30 s). */
  retryWindowMs?: number | undefined;
  url?: string | undefined;
  debug?: boolean;
  /** --timeout or SF_TIMEOUT was given (else the hint suggests them). */
  timeoutFlag?: boolean;
  /** Lines printed after the error line: what was left behind and how to clean it up. */
  notes?: string[];
  /** ` --profile work --url …`, kept in every command a hint names (see Context.hintFlags). */
  hintFlags?: string;
  /** ` --profile work` alone: for hints that say the URL itself may be wrong. */
  profileFlag?: string;
  /** API field → the flag it came from, for validation errors in the person's words. */
  fieldFlags?: FieldFlags;
  /** Rule of the admin policy → what to change in this command to keep to it (`add --encrypt`). */
  policyHints?: PolicyHints;
}

/**
 * The one line shown for an error (without the `error: ` prefix): the server's `detail`, plus a
 * hint for the failures a person can fix (log in again, check the URL).
 */
export function describeError(err: unknown, ctx: ErrorContext = {}): string {
  // "https://files… refused this GitHub Actions job's ID token (oidc_no_matching_policy): …"
  if (err instanceof FederatedAuthError) return oneLine(err.message);
  if (err instanceof DecryptionError) return describeDecryption(err);
  if (err instanceof AuthenticationError && ctx.tokenSource === "oidc") {
    return `${err.detail} (401) — the token exchanged for this job's OIDC ID token was refused; check the server's trust policy for this pipeline`;
  }
  if (err instanceof AuthenticationError) {
    const login = `\`sf login${ctx.hintFlags ?? ""}\``;
    const hint = ctx.tokenSource === "env" ? `check SF_TOKEN, or unset it and run ${login}` : `run ${login}`;
    return `${err.detail} (401) — ${hint}`;
  }
  if (err instanceof PermissionError) return `${err.detail} (403)`;
  if (err instanceof RateLimitError) {
    // Say when to retry once: the server's "try again later" gives way to the actual wait.
    if (err.retryAfter === undefined) return `${err.detail} (429)`;
    const base = err.detail.replace(/[\s;,.—-]*(please\s+)?try again\b.*$/i, "").trim() || "too many requests";
    return `${base}; try again in ${formatSeconds(err.retryAfter)} (429)`;
  }
  if (err instanceof PolicyViolationError) return describePolicyViolation(err, ctx);
  if (err instanceof ValidationError) {
    return describeFieldErrors(err.errors, ctx.fieldFlags ?? {}) ?? err.detail.replace(/^\/body\//, "");
  }
  if (err instanceof ApiError) {
    const rid = err.status >= 500 && err.requestId ? `, request id ${err.requestId}` : "";
    const waited = err.status >= 502 && err.status <= 504 ? windowNote(ctx) : "";
    return `${err.detail} (${err.status}${rid})${waited}`;
  }
  if (err instanceof TimeoutError) {
    const url = err.url ?? ctx.url;
    const limit = err.timeoutMs !== undefined ? `${Number((err.timeoutMs / 1000).toFixed(1))} s` : "the time limit";
    const raise = ctx.timeoutFlag ? "" : "; to wait longer, use --timeout SECONDS or SF_TIMEOUT";
    // "upload of a.bin to <url> stalled: no progress for 30 s"
    if (err.kind === "stall") return `${oneLine(err.message)}${raise}`;
    return `no answer from ${url ?? "the server"} within ${limit} — check the URL (--url, SF_URL or \`sf login${ctx.profileFlag ?? ""}\`) and your network${raise}`;
  }
  if (err instanceof NetworkError) {
    const where = ctx.url || err.url ? ` at ${ctx.url ?? originOf(err.url!)}` : "";
    const code = causeCode(err);
    const why = code ?? oneLine(err.message);
    if (err.unavailableForMs !== undefined) {
      return `the SpeedyFiles server${where} stayed unavailable (${why}) for ${formatSeconds(Math.round(err.unavailableForMs / 1000))} of retries — is it running? (SF_RETRY_WINDOW=SECONDS waits longer)`;
    }
    return `cannot reach the SpeedyFiles server${where} (${why}) — check the URL (--url, SF_URL or \`sf login${ctx.profileFlag ?? ""}\`) and your network`;
  }
  if (err instanceof UnexpectedResponseError) return `${err.message} — check the URL (--url, SF_URL or \`sf login${ctx.profileFlag ?? ""}\`)`;
  if (err instanceof ChecksumError) return oneLine(err.message);
  if (err instanceof AbortError) return "interrupted";
  if (err instanceof Error) return oneLine(err.message) || err.name;
  return oneLine(String(err));
}

/**
 * A refusal by the admin policy in words: sf's own sentence when it refused before sending (it
 * names the file, the recipient or the numbers), else the server's followed by the rule as
 * `sf admin policy show` says it (`(admin policy: largest file 2 GiB)`); then what to change in
 * the command when a flag can.
 */
function describePolicyViolation(err: PolicyViolationError, ctx: ErrorContext): string {
  const h = ctx.policyHints?.[err.rule];
  const hint = typeof h === "function" ? h(err) : h;
  const base = err.refusedBy === "client" ? oneLine(err.detail) : `${oneLine(err.detail).replace(/[.\s]+$/, "")} (admin policy: ${ruleInWords(err.rule, err.limit)})`;
  return hint ? `${base}; ${hint}` : base;
}

/**
 * An encrypted package that could not be opened: a key or passphrase that is missing is a usage
 * error (2), a wrong one is refused as a wrong password is (3), a tampered file is a failure (1),
 * as a checksum mismatch is.
 */
function decryptionExitCode(err: DecryptionError): ExitCode {
  if (err.code === "key_missing" || err.code === "key_malformed" || err.code === "passphrase_needed") return ExitCode.USAGE;
  if (err.code === "key_wrong" || err.code === "passphrase_wrong") return ExitCode.AUTH;
  return ExitCode.FAILURE;
}

/** The link lacks its `#…` part: where the key comes from, and how to give it. */
export const KEY_MISSING =
  "this package is encrypted end to end and the link has no key: the full link ends with #AGE-SECRET-KEY-1…, a part the emailed link leaves out. Ask the sender for the full link (`sf send --encrypt` printed it for them) and quote it: sf download 'https://…/l/…#AGE-SECRET-KEY-1…'";

/** What went wrong opening an encrypted package, in the words of the person at the keyboard. Never the key. */
function describeDecryption(err: DecryptionError): string {
  switch (err.code) {
    case "key_missing":
      return KEY_MISSING;
    case "key_malformed":
      return "the part of the link after `#` is not an age key (AGE-SECRET-KEY-1…): copy the whole link the sender gave you, and quote it in the shell";
    case "passphrase_needed":
      return "this package is encrypted with a passphrase: pipe it in with --passphrase-stdin, or run sf on a terminal to be asked (the sender gives it to you)";
    case "key_wrong":
      return "the key in the link does not open this package: it is not the key its files were encrypted with (check that the link is whole, as the sender gave it); nothing was written";
    case "passphrase_wrong":
      return "wrong passphrase: it does not open this package; nothing was written";
    default:
      // tampered: the SDK's sentence names the file and says that nothing was written.
      return oneLine(err.message);
  }
}

/** After a 502–504: that the retry window was spent on it (unless it was turned off). */
function windowNote(ctx: ErrorContext): string {
  const ms = ctx.retryWindowMs ?? 30_000;
  return ms > 0 ? ` — still unavailable after ${formatSeconds(Math.round(ms / 1000))} of retries (SF_RETRY_WINDOW=SECONDS waits longer)` : "";
}

/** `http://host:port` of a URL (the base the person configured, without the API path). */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** The first `code` (ECONNREFUSED, ENOTFOUND, …) down the `cause` chain. */
function causeCode(err: unknown): string | undefined {
  let closed = false;
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 8; e = e.cause as typeof e, i++) {
    // EPIPE: writing an upload into a connection the other side had closed.
    if (e.code === "UND_ERR_SOCKET" || e.code === "EPIPE") closed = true;
    else if (typeof e.code === "string" && !e.code.startsWith("UND_ERR")) return e.code;
  }
  // A connection the other side closed (undici's code, or a write's EPIPE): say it in words.
  return closed ? "connection closed" : undefined;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ").trim();
}
