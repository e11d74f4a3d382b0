import type { NextFunction, Request, RequestHandler, Response } from "express";
import { Unauthorized } from "../../errors.js";
import type { Principal, Services } from "../../services/context.js";
import { checkScopes, isScope, type Scope } from "../../policies/index.js";
import { enforce } from "../../policies/decision.js";
import { bearerAuth } from "./bearer.js";
import { sessionCookie } from "./session-cookie.js";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      principal?: Principal;
    }
  }
}

/** How one security scheme of openapi.yaml turns a request into a caller. */
export interface Authenticator {
  /** The request carries this scheme's credential (valid or not). */
  presented(req: Request): boolean;
  /** The caller, or 401 (403 `csrf_failed` for a cookie's unsafe request without its token). */
  authenticate(s: Services, req: Request): Promise<Principal>;
}

/**
 * The authenticators by the name of their scheme in `components.securitySchemes`. The order is
 * precedence: a request with an `Authorization` header is judged by it alone, never by a cookie.
 * A new kind of credential (a federated CI token) is one more entry here.
 */
export const AUTHENTICATORS: Readonly<Record<string, Authenticator>> = { bearerAuth, sessionCookie };

/** One alternative of an operation's `security`: a scheme and the scopes it must hold. */
export interface SecurityAlternative {
  scheme: string;
  scopes: Scope[];
}

/**
 * An operation's `security` as alternatives, checked against the registry: a scheme without an
 * authenticator, or a scope outside the vocabulary, stops the server at start-up.
 */
export function securityAlternatives(operationId: string, security: Record<string, unknown>[]): SecurityAlternative[] {
  return security.map((requirement) => {
    const names = Object.keys(requirement);
    if (names.length !== 1) throw new Error(`openapi.yaml: ${operationId}: each security alternative names one scheme (got ${names.join(" + ") || "none"})`);
    const scheme = names[0]!;
    if (!Object.hasOwn(AUTHENTICATORS, scheme)) throw new Error(`openapi.yaml: ${operationId}: security scheme '${scheme}' has no authenticator`);
    const scopes = requirement[scheme];
    if (!Array.isArray(scopes) || !scopes.every((x): x is Scope => typeof x === "string" && isScope(x))) {
      throw new Error(`openapi.yaml: ${operationId}: ${scheme}'s scopes must be a list of known scopes (got ${JSON.stringify(scopes)})`);
    }
    return { scheme, scopes };
  });
}

/**
 * The operation's first middleware: the caller, by the first scheme (in precedence order) among
 * the operation's alternatives whose credential the request presents, then that alternative's
 * scopes (403 `insufficient_scope`, or `admin_required` for a user). Nothing presented is 401.
 */
export function authenticate(s: Services, alternatives: SecurityAlternative[]): RequestHandler {
  const ordered = Object.keys(AUTHENTICATORS).flatMap((scheme) => alternatives.filter((a) => a.scheme === scheme));
  return async (req: Request, _res: Response, next: NextFunction) => {
    for (const alternative of ordered) {
      const authenticator = AUTHENTICATORS[alternative.scheme]!;
      if (!authenticator.presented(req)) continue;
      const ua = req.headers["user-agent"];
      // Where the caller is goes with who they are: services record both in the audit trail.
      req.principal = { ...(await authenticator.authenticate(s, req)), client: { address: req.ip, userAgent: typeof ua === "string" ? ua : undefined } };
      enforce(checkScopes(req.principal, alternative.scopes));
      return next();
    }
    throw new Unauthorized("token_missing", "Missing token: send Authorization: Bearer sf_…");
  };
}
