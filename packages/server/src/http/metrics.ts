import crypto from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { Unauthorized } from "../errors.js";
import type { Metrics } from "../metrics/registry.js";

const LABEL = Symbol("metricsOperation");
type Labelled = ServerResponse & { [LABEL]?: string };

/** Names the operation a response answers (the spec router's operationId, or `unknown` for the 404 handler). */
export function labelOperation(res: ServerResponse, operation: string): void {
  (res as Labelled)[LABEL] = operation;
}

/**
 * The `operation` label of a request: its operationId when the spec router took it, else one of
 * `metrics`, `assets`, `docs`, `web` (the pages) and `unknown`, by where its path points. Never a
 * raw path, so the label's values stay a small known set however many URLs clients try.
 */
export function operationLabel(req: IncomingMessage & { originalUrl?: string }, res: ServerResponse): string {
  const named = (res as Labelled)[LABEL];
  if (named !== undefined) return named;
  const url = req.originalUrl ?? req.url ?? "";
  const path = url.split("?", 1)[0] ?? "";
  if (path === "/metrics") return "metrics";
  if (path.startsWith("/assets/")) return "assets";
  if (/^\/api\/v1\/(docs|redoc|openapi\.json)(\/|$)/.test(path)) return "docs";
  if (path.startsWith("/api/")) return "unknown";
  return "web";
}

/**
 * Times every request, from its arrival until the answer is sent or the client goes away, into
 * `speedyfiles_http_request_duration_seconds`.
 */
export function requestMetrics(metrics: Metrics): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = performance.now();
    res.once("close", () => metrics.observeRequest(operationLabel(req, res), res.statusCode, (performance.now() - started) / 1000));
    next();
  };
}

const digest = (s: string) => crypto.createHash("sha256").update(s, "utf8").digest();

/**
 * `GET /metrics` on the main port: only with `Authorization: Bearer <SF_METRICS_TOKEN>`. Both
 * sides are hashed first, so the comparison takes the same time whatever the length or the first
 * wrong character. The token is not an API token: it never reaches the token service, the
 * database or a log line.
 */
export function metricsWithToken(metrics: Metrics, token: string): RequestHandler {
  const expected = digest(token);
  return async (req: Request, res: Response) => {
    const header = req.headers.authorization;
    const m = typeof header === "string" ? /^Bearer +(\S+) *$/i.exec(header) : null;
    if (!m) throw new Unauthorized("token_missing", "This endpoint needs Authorization: Bearer <SF_METRICS_TOKEN>");
    if (!crypto.timingSafeEqual(digest(m[1]!), expected)) throw new Unauthorized("token_invalid", "The metrics token is not valid");
    await sendMetrics(metrics, res);
  };
}

/** The exposition as the answer (HEAD: the headers only). */
export async function sendMetrics(metrics: Metrics, res: ServerResponse): Promise<void> {
  const body = await metrics.scrape();
  res.statusCode = 200;
  res.setHeader("Content-Type", metrics.contentType);
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(res.req.method === "HEAD" ? undefined : body);
}
