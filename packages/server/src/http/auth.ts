import type { NextFunction, Request, RequestHandler, Response } from "express";
import { Forbidden, Unauthorized } from "../errors.js";
import type { Principal, Role, Services } from "../services/context.js";
import { resolveToken } from "../services/tokens.js";

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
 * Resolves `Authorization: Bearer …` to the caller, before anything else about the request is
 * looked at (the spec router puts it first for every operation whose `security` needs a token).
 * With `role`, the caller must also have it (403). Tokens are never read from the query string.
 */
export function authenticate(s: Services, role?: Role): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    if (header === undefined) throw new Unauthorized("token_missing", "Missing token: send Authorization: Bearer sf_…");
    const match = typeof header === "string" ? BEARER.exec(header) : null;
    if (!match) throw new Unauthorized("token_invalid", "Missing or invalid token");
    req.principal = await resolveToken(s, match[1]!);
    if (role === "admin" && req.principal.role !== "admin") throw new Forbidden("admin_required", "This endpoint needs an admin account");
    next();
  };
}
