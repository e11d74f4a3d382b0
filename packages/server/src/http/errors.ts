import type { NextFunction, Request, Response } from "express";
import { ApiError } from "../errors.js";

interface ValidatorError {
  status?: number;
  statusCode?: number;
  type?: string;
  message?: string;
  errors?: { path?: string; message?: string }[];
  headers?: Record<string, string>;
}

/**
 * The one place errors become HTTP answers. ApiErrors carry their status; the OpenAPI validator's
 * 400s become 422 with `errors[]`; body-parser's malformed JSON becomes 422 and its size limit
 * 413; anything else is logged and answered 500 without detail.
 */
export function errorHandler(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  const send = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.status(status).json(body);
  };

  if (err instanceof ApiError) {
    const code = (err as { code?: unknown }).code;
    send(
      err.status,
      { detail: err.message, ...(typeof code === "string" ? { code } : {}), ...(err.errors ? { errors: err.errors } : {}) },
      err.headers,
    );
    return;
  }

  const e = (err ?? {}) as ValidatorError;
  const status = e.status ?? e.statusCode;

  if (e.type === "entity.parse.failed") {
    send(422, { detail: "Malformed JSON body", errors: [{ path: "/body", message: "Malformed JSON body" }] });
    return;
  }
  if (e.type === "entity.too.large") {
    send(413, { detail: "Request body is too large" });
    return;
  }
  if (e.type === "encoding.unsupported" || e.type === "charset.unsupported") {
    send(415, { detail: "Unsupported body encoding" });
    return;
  }

  if (typeof status === "number" && status >= 400 && status < 500) {
    if (status === 400 || (status === 422 && Array.isArray(e.errors))) {
      const errors = (e.errors ?? []).map((x) => ({
        path: (x.path ?? "").startsWith("/") ? (x.path as string) : `/${(x.path ?? "").replace(/^\./, "").replace(/\./g, "/")}`,
        message: x.message ?? "invalid",
      }));
      const detail = errors.length > 0 ? errors.map((x) => `${x.path} ${x.message}`).join("; ") : e.message ?? "Invalid request";
      send(422, { detail, errors });
      return;
    }
    const messages: Record<number, string> = {
      404: "Not found",
      405: "Method not allowed",
      413: "Request body is too large",
      415: "Unsupported Content-Type",
    };
    const headers: Record<string, string> = {};
    if (status === 405 && e.headers?.Allow) headers.Allow = e.headers.Allow;
    send(status, { detail: messages[status] ?? e.message ?? "Bad request" }, headers);
    return;
  }

  req.log?.error({ err }, "unhandled error");
  send(500, { detail: "Internal server error" });
}

export function notFoundHandler(_req: Request, res: Response): void {
  res.status(404).json({ detail: "Not found" });
}
