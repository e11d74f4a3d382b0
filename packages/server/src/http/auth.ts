import type { NextFunction, Request, RequestHandler, Response } from "express";
import { Forbidden, Unauthorized } from "../errors.js";
import type { Principal, Role, Services } from "../services/context.js";
import { resolveToken } from "../services/tokens.js";
import { resolveSession } from "../services/sessions.js";
import { checkCsrfToken, checkOrigin, CSRF_HEADER, isUnsafeMethod, readCookie, SESSION_COOKIE } from "./session-cookie.js";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      principal?: Principal;
    }
  }
}

const BEARER = /^Bearer[ ]+(\S+)\s*$/i;

/**
 * Resolves the caller before anything else about the request is looked at (the spec router puts
 * it first for every operation whose `security` needs one): `Authorization: Bearer …` when the
 * header is there (then judged by it alone, whatever cookie comes along), otherwise the web
 * interface's session cookie, whose unsafe requests must also carry the session's CSRF token in
 * `X-CSRF-Token` (403 `csrf_failed`). With `role`, the caller must also have it (403). Tokens are
 * never read from the query string.
 */
export function authenticate(s: Services, role?: Role): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const match = typeof header === "string" ? BEARER.exec(header) : null;
      if (!match) throw new Unauthorized("token_invalid", "Missing or invalid token");
      req.principal = await resolveToken(s, match[1]!);
    } else {
      const secret = readCookie(req, SESSION_COOKIE);
      if (secret === undefined) throw new Unauthorized("token_missing", "Missing token: send Authorization: Bearer sf_…");
      const session = await resolveSession(s, secret);
      if (isUnsafeMethod(req.method)) {
        checkOrigin(req, s.config.publicUrl);
        checkCsrfToken(req.get(CSRF_HEADER), session.csrfToken);
      }
      req.principal = session.principal;
    }
    if (role === "admin" && req.principal.role !== "admin") throw new Forbidden("admin_required", "This endpoint needs an admin account");
    next();
  };
}
