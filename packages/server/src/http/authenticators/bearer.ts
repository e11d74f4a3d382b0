import type { Request } from "express";
import { Unauthorized } from "../../errors.js";
import type { Principal, Services } from "../../services/context.js";
import { resolveToken } from "../../services/tokens.js";
import type { Authenticator } from "./index.js";

const BEARER = /^Bearer[ ]+(\S+)\s*$/i;

/**
 * `bearerAuth`: `Authorization: Bearer sf_…`, a personal API token. When the header is there the
 * request is judged by it alone, whatever cookie comes along. Tokens are never read from the
 * query string.
 */
export const bearerAuth: Authenticator = {
  presented: (req: Request) => req.headers.authorization !== undefined,
  async authenticate(s: Services, req: Request): Promise<Principal> {
    const header = req.headers.authorization;
    const match = typeof header === "string" ? BEARER.exec(header) : null;
    if (!match) throw new Unauthorized("token_invalid", "Missing or invalid token");
    return resolveToken(s, match[1]!);
  },
};
