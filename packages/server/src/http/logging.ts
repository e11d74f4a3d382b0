import crypto from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { pinoHttp } from "pino-http";
import type { Logger } from "pino";

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** Cuts magic-link secrets out of URLs before they reach a log line. */
export function redactPath(url: string): string {
  return url
    .replace(/\/l\/[^/?#]+/gi, "/l/[redacted]")
    .replace(/\/links\/[^/?#]+/gi, "/links/[redacted]")
    .replace(/([?&](?:token|access_token|link)=)[^&#]*/gi, "$1[redacted]");
}

/**
 * Request id + child logger on `req.log`. An incoming `X-Request-Id` is kept when it looks sane
 * (a load balancer's), otherwise a UUID is made; either way it is echoed in the response.
 */
export function requestLogger(logger: Logger) {
  return pinoHttp({
    logger,
    genReqId(req: IncomingMessage, res: ServerResponse) {
      const incoming = req.headers["x-request-id"];
      const id = typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
      res.setHeader("X-Request-Id", id);
      return id;
    },
    serializers: {
      req(req: { id: unknown; method: string; url: string; remoteAddress?: string }) {
        // Only what an operator needs: never headers (Authorization, Cookie) and never link secrets.
        return { id: req.id, method: req.method, url: redactPath(req.url), remoteAddress: req.remoteAddress };
      },
      res(res: { statusCode: number }) {
        return { statusCode: res.statusCode };
      },
    },
    customLogLevel(_req, res, err) {
      if (err || res.statusCode >= 500) return "error";
      return "info";
    },
  });
}
