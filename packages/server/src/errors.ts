/** An error that becomes an HTTP answer `{"detail": message}` with its status. */
export class ApiError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly errors?: { path: string; message: string }[];

  constructor(
    status: number,
    detail: string,
    opts: { headers?: Record<string, string>; errors?: { path: string; message: string }[] } = {},
  ) {
    super(detail);
    this.status = status;
    this.headers = opts.headers ?? {};
    if (opts.errors) this.errors = opts.errors;
  }
}

export class Unauthorized extends ApiError {
  constructor(detail = "Missing or invalid token") {
    super(401, detail, { headers: { "WWW-Authenticate": 'Bearer realm="speedyfiles"' } });
  }
}
export class Forbidden extends ApiError {
  constructor(detail = "You do not have permission for this") {
    super(403, detail);
  }
}
export class NotFound extends ApiError {
  constructor(detail = "Not found") {
    super(404, detail);
  }
}
export class Conflict extends ApiError {
  constructor(detail: string) {
    super(409, detail);
  }
}
export class Gone extends ApiError {
  constructor(detail = "This link has expired or was revoked") {
    super(410, detail);
  }
}
export class PayloadTooLarge extends ApiError {
  constructor(detail: string) {
    super(413, detail);
  }
}
/** The storage has no room left (ENOSPC, EDQUOT, EFBIG): the server's problem, not the file's. */
export class InsufficientStorage extends ApiError {
  readonly code = "insufficient_storage";
  constructor(detail = "The server has run out of storage space for this file; nothing was kept. Try again later or ask the administrator to free space") {
    super(507, detail);
  }
}
export class RangeNotSatisfiable extends ApiError {
  constructor(size: number) {
    super(416, "Range not satisfiable", { headers: { "Content-Range": `bytes */${size}` } });
  }
}
export class ValidationFailed extends ApiError {
  constructor(detail: string, path = "/body") {
    super(422, detail, { errors: [{ path, message: detail }] });
  }
}
