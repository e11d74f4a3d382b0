import type { NextFunction, Request, Response } from "express";
import { Forbidden, Unauthorized } from "../errors.js";
import type { Services } from "../services/context.js";
import { resolveToken, type Principal } from "../services/tokens.js";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      principal?: Principal;
    }
  }
}

/** Resolves `Authorization: Bearer …` to a principal. Tokens are never read from the query string. */
export function requireAuth(s: Services) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    const match = typeof header === "string" ? /^Bearer[ ]+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new Unauthorized("Missing or invalid token");
    req.principal = await resolveToken(s, match[1]!);
    next();
  };
}

export function requireAdmin(req: Request, _res: Response, next: NextFunction): void {
  if (req.principal?.role !== "admin") throw new Forbidden("This endpoint needs an admin account");
  next();
}

/** The authenticated principal; only for handlers behind requireAuth. */
export function principal(req: Request): Principal {
  if (!req.principal) throw new Unauthorized();
  return req.principal;
}
