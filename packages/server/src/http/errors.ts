import type { NextFunction, Request, Response } from "express";
import { ApiError, errorExtras, type ErrorCode, type FieldError } from "../errors.js";
import { labelOperation } from "./metrics.js";

interface ValidatorError {
  status?: number;
  statusCode?: number;
  type?: string;
  message?: string;
  errors?: { path?: string; message?: string }[];
  headers?: Record<string, string>;
}

/** The one error body: `{"detail", "code"}` and, for 422, `errors[]`. */
function errorBody(detail: string, code: ErrorCode, errors?: FieldError[]): Record<string, unknown> {
  return errors ? { detail, code, errors } : { detail, code };
}

const STATUS_CODES: Partial<Record<number, [ErrorCode, string]>> = {
  404: ["not_found", "Not found"],
  405: ["method_not_allowed", "Method not allowed"],
  413: ["body_too_large", "Request body is too large"],
  415: ["unsupported_media_type", "Unsupported Content-Type"],
};

/**
 * The one place errors become HTTP answers. ApiErrors carry their status and code; the OpenAPI
 * validator's 400s become 422 with `errors[]`; body-parser's malformed JSON becomes 422 and its
 * size limit 413; anything else is logged and answered 500 without detail.
 */
export function errorHandler(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  const send = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    try {
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      res.status(status).json(body);
    } catch (failure) {
      // Never let Express's own handler answer: it prints a stack trace into an HTML page. (In
      // tests this is where a response that breaks openapi.yaml ends up.)
      req.log?.error({ err: failure }, "could not send an error answer");
      if (res.headersSent) return void res.destroy();
      res.removeHeader("Content-Length");
      res
        .status(500)
        .type("application/json")
        .end(JSON.stringify(errorBody("Internal server error", "internal_error")));
    }
  };

  if (err instanceof ApiError) {
    // Rate limiters that count some failures only (a wrong link password) read the code here.
    res.locals.errorCode = err.code;
    send(err.status, { detail: err.message, code: err.code, ...errorExtras(err) }, err.headers);
    return;
  }

  const e = (err ?? {}) as ValidatorError;
  const status = e.status ?? e.statusCode;

  if (e.type === "entity.parse.failed") {
    send(422, errorBody("Malformed JSON body", "body_malformed", [{ path: "/body", message: "Malformed JSON body" }]));
    return;
  }
  if (e.type === "entity.too.large") {
    send(413, errorBody("Request body is too large", "body_too_large"));
    return;
  }
  if (e.type === "encoding.unsupported" || e.type === "charset.unsupported") {
    send(415, errorBody("Unsupported body encoding", "unsupported_media_type"));
    return;
  }

  if (typeof status === "number" && status >= 400 && status < 500) {
    if (status === 400 || (status === 422 && Array.isArray(e.errors))) {
      const errors = (e.errors ?? []).map((x) => ({
        path: (x.path ?? "").startsWith("/") ? (x.path as string) : `/${(x.path ?? "").replace(/^\./, "").replace(/\./g, "/")}`,
        message: x.message ?? "invalid",
      }));
      const detail = errors.length > 0 ? errors.map((x) => `${x.path} ${x.message}`).join("; ") : (e.message ?? "Invalid request");
      send(422, errorBody(detail, "validation_failed", errors));
      return;
    }
    const [code, detail] = STATUS_CODES[status] ?? ["validation_failed", e.message ?? "Bad request"];
    const headers: Record<string, string> = {};
    if (status === 405 && e.headers?.Allow) headers.Allow = e.headers.Allow;
    send(status, errorBody(detail, code), headers);
    return;
  }

  req.log?.error({ err }, "unhandled error");
  send(500, errorBody("Internal server error", "internal_error"));
}

export function notFoundHandler(_req: Request, res: Response): void {
  labelOperation(res, "unknown");
  res.status(404).json(errorBody("Not found", "not_found"));
}
