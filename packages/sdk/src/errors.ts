import type { components } from "./generated/api.js";
import type { PolicyLimit, PolicyRuleName } from "./types.js";
/**
 * Base class of every error the SDK throws. Optional fields exist only when set (`declare`, and
 * no assignment of undefined), so `console.log(err)` and util.inspect show what happened, not a
 * list of empty fields.
 */
export class SpeedyFilesError extends Error {
  /**
   * Set by `send()` and `request()` when they failed and could not delete the draft they had
   * created (the server went away, say): that package is still on the server, unfinished and never
   * sent. Delete it with `packages.delete(id)` once the server answers again.
   */
  declare orphanedPackageId?: string;
  /** Why deleting that draft failed. */
  declare cleanupError?: unknown;
  /** Set by `send()` with `resume.keepDraft`: the draft it kept, to resume. */
  declare resumablePackageId?: string;

  constructor(message: string, options?: { cause?: unknown }) {
    // `{ cause: undefined }` would still make an own `cause` property.
    super(message, options?.cause !== undefined ? options : undefined);
    this.name = new.target.name;
  }
}

/** The stable codes the server puts in error bodies (`ErrorCode` in openapi.yaml). */
export type ServerErrorCode = components["schemas"]["ErrorCode"];

/** What `code` falls back to when an error body has none (derived from the status). */
export type ErrorCode =
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "gone"
  | "payload_too_large"
  | "range_not_satisfiable"
  | "validation"
  | "rate_limited"
  | "server"
  | "http";

const CODES: Record<number, ErrorCode> = {
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  410: "gone",
  413: "payload_too_large",
  416: "range_not_satisfiable",
  422: "validation",
  429: "rate_limited",
};

export interface ApiErrorInit {
  status: number;
  detail: string;
  /** The body's `code`, when the server sent one. */
  code?: string | undefined;
  errors?: { path: string; message: string }[] | undefined;
  method: string;
  url: string;
  requestId?: string | undefined;
  retryAfter?: number | undefined;
  /** With `policy_violation` / `quota_exceeded`: the rule of the instance's policy, and its value. */
  rule?: PolicyRuleName | undefined;
  limit?: PolicyLimit | undefined;
}

/**
 * The server answered with an error status. Carries the server's `detail` and `errors[]`, the
 * method and URL (never the token) and the request id to quote in a bug report.
 */
export class ApiError extends SpeedyFilesError {
  readonly status: number;
  /**
   * For programs: the `code` of the server's error body when it sends one (stable snake_case),
   * else derived from the status (the ErrorCode values).
   */
  readonly code: ServerErrorCode | ErrorCode | (string & {});
  readonly detail: string;
  readonly errors: { path: string; message: string }[];
  readonly method: string;
  readonly url: string;
  declare readonly requestId: string | undefined;

  constructor(init: ApiErrorInit) {
    super(`${init.method} ${init.url} → ${init.status}: ${init.detail}`);
    this.status = init.status;
    this.code = init.code ?? CODES[init.status] ?? (init.status >= 500 ? "server" : "http");
    this.detail = init.detail;
    this.errors = init.errors ?? [];
    this.method = init.method;
    this.url = init.url;
    setIfDefined(this, "requestId", init.requestId);
  }
}

export class AuthenticationError extends ApiError {}
export class PermissionError extends ApiError {}
export class NotFoundError extends ApiError {}
export class ConflictError extends ApiError {}
export class GoneError extends ApiError {}
export class PayloadTooLargeError extends ApiError {}
export class ValidationError extends ApiError {}

/** The codes of a refusal by the instance's policy. */
export type PolicyViolationCode = "policy_violation" | "quota_exceeded";

/**
 * The instance's policy forbids it (422 `policy_violation`, or `quota_exceeded` for the storage
 * quota): `rule` names the rule, `limit` its value (`policyRuleInWords(rule, limit)` says it in a
 * sentence). `send()` and `request()` throw it too, with `refusedBy: "client"`, when the caller's
 * effective policy (GET /me/policy) shows before anything is created or uploaded that the server
 * would refuse: then `detail` says what in words (`big.iso is 4.3 GiB; this server takes files up
 * to 2 GiB (admin policy)`), and `file` or `recipient` names what broke the rule.
 */
export class PolicyViolationError extends ValidationError {
  declare readonly code: PolicyViolationCode;
  readonly rule: PolicyRuleName;
  declare readonly limit: PolicyLimit | undefined;
  /** `server`: the server refused the request; `client`: the SDK refused before sending it. */
  readonly refusedBy: "server" | "client";
  /** (refusedBy client) The file too big for `max_file_bytes`. */
  declare readonly file: string | undefined;
  /** (refusedBy client) The recipient outside `allowed_recipient_domains` or inside `blocked_recipient_domains`. */
  declare readonly recipient: string | undefined;

  constructor(init: ApiErrorInit & { rule: PolicyRuleName; refusedBy?: "server" | "client"; file?: string | undefined; recipient?: string | undefined }) {
    super(init);
    this.rule = init.rule;
    this.refusedBy = init.refusedBy ?? "server";
    setIfDefined(this, "limit", init.limit);
    setIfDefined(this, "file", init.file);
    setIfDefined(this, "recipient", init.recipient);
    // Nothing was sent: the sentence alone, without a request line that never happened.
    if (this.refusedBy === "client") this.message = init.detail;
  }
}
export class RateLimitError extends ApiError {
  /** Seconds the server asked to wait (`Retry-After`), when it said. */
  declare readonly retryAfter: number | undefined;
  constructor(init: ApiErrorInit) {
    super(init);
    setIfDefined(this, "retryAfter", init.retryAfter);
  }
}

/** Where a transport error happened: the request's method and URL (query string and secrets cut). */
export interface TransportErrorInit {
  cause?: unknown;
  method?: string | undefined;
  url?: string | undefined;
}

/** The request never got an answer (connection refused, reset, DNS). */
export class NetworkError extends SpeedyFilesError {
  declare readonly method: string | undefined;
  declare readonly url: string | undefined;
  /** Set when the call kept trying for its retry window (`retryWindowMs`) and the server stayed away: for how long, in ms. */
  declare readonly unavailableForMs: number | undefined;
  constructor(message: string, init: TransportErrorInit & { unavailableForMs?: number } = {}) {
    super(message, { cause: init.cause });
    setIfDefined(this, "method", init.method);
    setIfDefined(this, "url", init.url);
    setIfDefined(this, "unavailableForMs", init.unavailableForMs);
  }
}

/**
 * Gave up waiting. `kind` says which limit: `deadline` (an API call had no answer within
 * `timeoutMs`, retries included) or `stall` (an upload or download moved no byte for `timeoutMs`).
 */
export class TimeoutError extends SpeedyFilesError {
  declare readonly method: string | undefined;
  declare readonly url: string | undefined;
  declare readonly timeoutMs: number | undefined;
  readonly kind: "deadline" | "stall";
  constructor(message: string, init: TransportErrorInit & { timeoutMs?: number; kind?: "deadline" | "stall" } = {}) {
    super(message, { cause: init.cause });
    setIfDefined(this, "method", init.method);
    setIfDefined(this, "url", init.url);
    setIfDefined(this, "timeoutMs", init.timeoutMs);
    this.kind = init.kind ?? "deadline";
  }
}
/** The bytes received or stored do not hash to what was expected. */
export class ChecksumError extends SpeedyFilesError {
  constructor(
    message: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(message);
  }
}
/** Why an encrypted package, file or message could not be opened (`DecryptionError.code`). */
export type DecryptionErrorCode = "key_missing" | "key_malformed" | "key_wrong" | "passphrase_needed" | "passphrase_wrong" | "tampered";

/**
 * An encrypted package could not be opened: no key, a key that is not one, the wrong key or
 * passphrase, or bytes that are not what was encrypted (`tampered`). Never carries the key.
 */
export class DecryptionError extends SpeedyFilesError {
  readonly code: DecryptionErrorCode;
  /** The file it concerns (its plaintext name when known, else the server's opaque name). */
  declare readonly file: string | undefined;
  constructor(code: DecryptionErrorCode, message: string, options?: { cause?: unknown; file?: string | undefined }) {
    super(message, options);
    this.code = code;
    setIfDefined(this, "file", options?.file);
  }
}

/** The caller aborted through its AbortSignal. */
export class AbortError extends SpeedyFilesError {}

/**
 * The answer is not what a SpeedyFiles server sends: HTML, plain text or broken JSON where JSON
 * was due. Usually a wrong URL, or a proxy, captive portal or login page in between.
 */
export class UnexpectedResponseError extends SpeedyFilesError {
  readonly status: number;
  /** The answer's Content-Type (`""` when it had none). */
  readonly contentType: string;
  readonly method: string;
  readonly url: string;
  constructor(init: { status: number; contentType: string; method: string; url: string; reason?: string; cause?: unknown }) {
    const type = init.contentType.split(";")[0]!.trim() || "an answer without a content type";
    const what = init.reason ?? `got ${type}`;
    super(`not a SpeedyFiles server? ${what} from ${safeUrl(init.url)} (HTTP ${init.status})`, { cause: init.cause });
    this.status = init.status;
    this.contentType = init.contentType;
    this.method = init.method;
    this.url = safeUrl(init.url);
  }
}

/** Sets a field only when it has a value: an absent field reads as undefined all the same. */
function setIfDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) (target as Record<K, T[K]>)[key] = value;
}

const CLASSES: Record<number, new (init: ApiErrorInit) => ApiError> = {
  401: AuthenticationError,
  403: PermissionError,
  404: NotFoundError,
  409: ConflictError,
  410: GoneError,
  413: PayloadTooLargeError,
  422: ValidationError,
  429: RateLimitError,
};

/** Strips query strings that could carry secrets and magic-link secrets from a URL for messages. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.search = "";
    u.username = "";
    u.password = "";
    return u.toString().replace(/\/(l|links)\/[^/]+/, "/$1/[redacted]");
  } catch {
    return url;
  }
}

export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  // Otherwise only an HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT" and its two legacy forms, all
  // starting with a day name): Date.parse alone reads junk such as "-5" or "1.5" as a date.
  if (!/^[A-Za-z]{3}/.test(value.trim())) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, Math.ceil((t - Date.now()) / 1000));
}

/** Builds the typed error for an error response whose JSON body (if any) was already read. */
export function apiErrorFrom(status: number, body: unknown, meta: { method: string; url: string; headers: { get(name: string): string | null } }): ApiError {
  const b = (body !== null && typeof body === "object" ? body : {}) as { detail?: unknown; errors?: unknown; code?: unknown; rule?: unknown; limit?: unknown };
  const detail = typeof b.detail === "string" ? b.detail : `HTTP ${status}`;
  const init: ApiErrorInit = {
    status,
    detail,
    code: typeof b.code === "string" && /^[a-z][a-z0-9_]*$/.test(b.code) ? b.code : undefined,
    errors: Array.isArray(b.errors) ? (b.errors as { path: string; message: string }[]) : undefined,
    method: meta.method.toUpperCase(),
    url: safeUrl(meta.url),
    requestId: meta.headers.get("x-request-id") ?? undefined,
    retryAfter: parseRetryAfter(meta.headers.get("retry-after")),
  };
  if (status === 422 && (init.code === "policy_violation" || init.code === "quota_exceeded") && typeof b.rule === "string") {
    return new PolicyViolationError({ ...init, rule: b.rule as PolicyRuleName, limit: policyLimit(b.limit) });
  }
  const Cls = CLASSES[status] ?? ApiError;
  return new Cls(init);
}

/** A `limit` as the spec has it (a number, true or false, a list of strings), else undefined. */
function policyLimit(v: unknown): PolicyLimit | undefined {
  if (typeof v === "number" || typeof v === "boolean") return v;
  if (Array.isArray(v) && v.every((d) => typeof d === "string")) return v as string[];
  return undefined;
}
