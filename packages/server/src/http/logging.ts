import crypto from "node:crypto";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { Logger } from "pino";

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

const REDACTED = "[redacted]";

/**
 * An API token (`sf_` + 43 base64url characters) or a link secret (43 base64url characters).
 * Longer base64url runs are hidden too: a secret glued to other characters is still a secret.
 * UUIDs (36) and the rest of our URLs are shorter.
 */
const SECRET_SHAPED = /sf_[A-Za-z0-9_-]{43}|[A-Za-z0-9_-]{43,}/;

/** Parameter names whose value is a secret whatever it looks like (`?password=hunter2`). */
const SECRET_NAME_PARTS = /token|secret|passw|apikey|signature|bearer|credential|session|cookie|authoriz|private/i;
const SECRET_NAME_WORDS = new Set(["key", "keys", "sig", "sign", "code", "auth", "pass", "pwd", "pw", "pin", "otp", "jwt", "sid", "hmac", "link"]);

/** Percent-decodes (repeatedly, so double encoding does not hide a secret); never throws. */
function decoded(s: string): string {
  let cur = s;
  for (let i = 0; i < 3 && cur.includes("%"); i++) {
    try {
      const next = decodeURIComponent(cur);
      if (next === cur) break;
      cur = next;
    } catch {
      break;
    }
  }
  return cur;
}

function looksSecret(raw: string): boolean {
  return SECRET_SHAPED.test(raw) || SECRET_SHAPED.test(decoded(raw));
}

function nameSuggestsSecret(rawName: string): boolean {
  const name = decoded(rawName);
  if (SECRET_NAME_PARTS.test(name)) return true;
  // apiKey, api_key, X-Api-Key, auth_code: any word of the name
  return name.split(/[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])/).some((w) => SECRET_NAME_WORDS.has(w.toLowerCase()));
}

/**
 * Cuts secrets out of a URL before it reaches a log line: magic-link secrets after `/l/` and
 * `/links/`, anything shaped like an API token or link secret in any path segment, parameter name
 * or value (also percent-encoded), and the value of any parameter whose name suggests a secret.
 * Clients do put tokens in URLs (`?bearer=`, `?api_key=`) even though the API refuses them there.
 */
export function redactPath(url: string): string {
  const hashAt = url.indexOf("#");
  const fragment = hashAt >= 0 ? url.slice(hashAt) : "";
  const beforeHash = hashAt >= 0 ? url.slice(0, hashAt) : url;
  const q = beforeHash.indexOf("?");
  const pathPart = q >= 0 ? beforeHash.slice(0, q) : beforeHash;

  const path = pathPart
    .replace(/\/l\/[^/]+/gi, `/l/${REDACTED}`)
    .replace(/\/links\/[^/]+/gi, `/links/${REDACTED}`)
    .split("/")
    .map((seg) => (looksSecret(seg) ? REDACTED : seg))
    .join("/");

  let query = "";
  if (q >= 0) {
    const pairs = beforeHash
      .slice(q + 1)
      .split("&")
      .map((pair) => {
        const eq = pair.indexOf("=");
        const name = eq >= 0 ? pair.slice(0, eq) : pair;
        if (looksSecret(name)) return REDACTED;
        if (eq < 0) return pair;
        const value = pair.slice(eq + 1);
        return value !== "" && (nameSuggestsSecret(name) || looksSecret(value)) ? `${name}=${REDACTED}` : pair;
      });
    query = `?${pairs.join("&")}`;
  }
  return `${path}${query}${fragment && looksSecret(fragment) ? `#${REDACTED}` : fragment}`;
}

/**
 * Request id + child logger on `req.log`, and one line per request when it ends (`request
 * completed`, or `request aborted` when the client went away first; error level for 5xx). An
 * incoming `X-Request-Id` is kept when it looks sane (a load balancer's), otherwise a UUID is
 * made; either way it is echoed in the response. The child logger (whose bindings serialise the
 * request) is only made when something logs: most requests never need it.
 */
export function requestLogger(logger: Logger): RequestHandler {
  const completed = logger.isLevelEnabled("info") || logger.isLevelEnabled("error");
  return (req: Request, res: Response, next: NextFunction) => {
    const incoming = req.headers["x-request-id"];
    const id = typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    res.setHeader("X-Request-Id", id);
    const started = performance.now();
    const bindings = () => ({ req: { id, method: req.method, url: redactPath(req.originalUrl), remoteAddress: req.socket.remoteAddress } });
    let child: Logger | undefined;
    Object.defineProperty(req, "log", { configurable: true, get: () => (child ??= logger.child(bindings())) });
    if (completed) {
      res.once("close", () => {
        const line = { ...bindings(), res: { statusCode: res.statusCode }, responseTime: Math.round(performance.now() - started) };
        if (!res.writableFinished) logger.info(line, "request aborted");
        else if (res.statusCode >= 500) logger.error(line, "request errored");
        else logger.info(line, "request completed");
      });
    }
    next();
  };
}

declare module "http" {
  interface IncomingMessage {
    /** This request's logger (with its id, method and redacted URL). */
    log: Logger;
  }
}
