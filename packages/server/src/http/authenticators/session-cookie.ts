import type { Request } from "express";
import type { Principal, Services } from "../../services/context.js";
import { resolveSession } from "../../services/sessions.js";
import { checkCsrfToken, checkOrigin, CSRF_HEADER, isUnsafeMethod, readCookie, SESSION_COOKIE } from "../session-cookie.js";
import type { Authenticator } from "./index.js";

/**
 * `sessionCookie`: the web interface's `sf_session` cookie. Its unsafe requests must also come
 * from our own pages and carry the session's CSRF token in `X-CSRF-Token` (403 `csrf_failed`).
 */
export const sessionCookie: Authenticator = {
  presented: (req: Request) => readCookie(req, SESSION_COOKIE) !== undefined,
  async authenticate(s: Services, req: Request): Promise<Principal> {
    const session = await resolveSession(s, readCookie(req, SESSION_COOKIE)!);
    if (isUnsafeMethod(req.method)) {
      checkOrigin(req, s.config.publicUrl);
      checkCsrfToken(req.get(CSRF_HEADER), session.csrfToken);
    }
    return session.principal;
  },
};
