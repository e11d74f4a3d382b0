import type { components } from "./generated/api.js";

/** The stable identifiers of errors, as listed by `ErrorCode` in openapi.yaml. */
export type ErrorCode = components["schemas"]["ErrorCode"];

/** A rule of the instance's policy, as `PolicyRuleName` in openapi.yaml lists them. */
export type PolicyRuleName = components["schemas"]["PolicyRuleName"];
/** A rule's value, as an error names it: days, bytes, a count, domains, or true. */
export type PolicyLimit = number | boolean | string[];

export interface FieldError {
  path: string;
  message: string;
}

/**
 * An error that becomes the HTTP answer `{"detail": message, "code": code}` with its status. The
 * detail is a sentence for people; the code is for programs and never changes meaning.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly headers: Record<string, string>;
  readonly errors?: FieldError[];
  /** The policy rule that refused (with `limit`, its value): `policy_violation`, `quota_exceeded`. */
  readonly rule?: PolicyRuleName;
  readonly limit?: PolicyLimit;

  constructor(status: number, code: ErrorCode, detail: string, opts: { headers?: Record<string, string>; errors?: FieldError[]; rule?: PolicyRuleName; limit?: PolicyLimit } = {}) {
    super(detail);
    this.status = status;
    this.code = code;
    this.headers = opts.headers ?? {};
    if (opts.errors) this.errors = opts.errors;
    if (opts.rule) this.rule = opts.rule;
    if (opts.limit !== undefined) this.limit = opts.limit;
  }
}

/** The error body's fields beyond `detail` and `code`: `rule`, `limit`, `errors`, when present. */
export function errorExtras(err: ApiError): { rule?: PolicyRuleName; limit?: PolicyLimit; errors?: FieldError[] } {
  return {
    ...(err.rule ? { rule: err.rule } : {}),
    ...(err.limit !== undefined ? { limit: err.limit } : {}),
    ...(err.errors ? { errors: err.errors } : {}),
  };
}

export class Unauthorized extends ApiError {
  constructor(code: "token_missing" | "token_invalid" | "token_expired" | "credentials_invalid" | "session_invalid", detail: string) {
    super(401, code, detail, { headers: { "WWW-Authenticate": 'Bearer realm="speedyfiles"' } });
  }
}
export type ForbiddenCode =
  | "admin_required"
  | "password_login_disabled"
  | "insufficient_scope"
  | "package_forbidden"
  | "link_download_forbidden"
  | "webhook_forbidden"
  | "csrf_failed"
  | "link_password_required"
  | "link_password_wrong"
  | "password_login_disabled";
export class Forbidden extends ApiError {
  constructor(code: ForbiddenCode, detail: string) {
    super(403, code, detail);
  }
}
type NotFoundCode =
  | "not_found"
  | "user_not_found"
  | "token_not_found"
  | "package_not_found"
  | "file_not_found"
  | "link_not_found"
  | "webhook_not_found"
  | "delivery_not_found"
  | "upload_not_found";
export class NotFound extends ApiError {
  constructor(code: NotFoundCode, detail: string) {
    super(404, code, detail);
  }
}
type ConflictCode =
  | "email_taken"
  | "package_not_draft"
  | "package_not_active"
  | "package_closed"
  | "file_name_taken"
  | "link_not_inbound"
  | "package_encrypted"
  | "download_in_progress"
  | "upload_offset_mismatch"
  | "uploads_unfinished"
  | "link_revoked"
  | "webhook_limit";
export class Conflict extends ApiError {
  constructor(code: ConflictCode, detail: string) {
    super(409, code, detail);
  }
}
type GoneCode = "link_expired" | "link_revoked" | "link_deleted" | "link_unavailable" | "package_purged" | "link_replaced" | "download_limit_reached" | "upload_expired";
export class Gone extends ApiError {
  constructor(code: GoneCode, detail: string) {
    super(410, code, detail);
  }
}
export class PayloadTooLarge extends ApiError {
  constructor(detail: string, code: "limit_exceeded" | "body_too_large" = "limit_exceeded") {
    super(413, code, detail);
  }
}
/** The storage has no room left (ENOSPC, EDQUOT, EFBIG): the server's problem, not the file's. */
export class InsufficientStorage extends ApiError {
  constructor(detail = "The server has run out of storage space for this file; nothing was kept. Try again later or ask the administrator to free space") {
    super(507, "insufficient_storage", detail);
  }
}
export class RangeNotSatisfiable extends ApiError {
  constructor(size: number) {
    super(416, "range_not_satisfiable", "Range not satisfiable", { headers: { "Content-Range": `bytes */${size}` } });
  }
}
export class ValidationFailed extends ApiError {
  constructor(
    detail: string,
    path = "/body",
    code:
      | "validation_failed"
      | "body_malformed"
      | "file_name_invalid"
      | "checksum_mismatch"
      | "package_empty"
      | "idempotency_key_reused"
      | "webhook_url_forbidden"
      | "upload_length_required"
      | "sealed_required"
      | "reset_token_invalid" = "validation_failed",
  ) {
    super(422, code, detail, { errors: [{ path, message: detail }] });
  }
}
/**
 * The instance's policy forbids the request (422 `policy_violation`), or an upload would take its
 * owner past the storage quota (422 `quota_exceeded`): `rule` names the rule and `limit` its value;
 * `path` is the field at fault, for forms.
 */
export class PolicyViolation extends ApiError {
  constructor(rule: PolicyRuleName, limit: PolicyLimit, detail: string, path = "/body", code: "policy_violation" | "quota_exceeded" = "policy_violation") {
    super(422, code, detail, { rule, limit, errors: [{ path, message: detail }] });
  }
}
export class QuotaExceeded extends PolicyViolation {
  constructor(limit: number, detail: string, path = "/body/file") {
    super("quota_bytes_per_user", limit, detail, path, "quota_exceeded");
  }
}
export class TooManyRequests extends ApiError {
  constructor(detail: string, retryAfterSeconds: number) {
    super(429, "rate_limited", detail, { headers: { "Retry-After": String(Math.max(1, Math.ceil(retryAfterSeconds))) } });
  }
}
