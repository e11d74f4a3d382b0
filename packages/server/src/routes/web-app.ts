import { Router } from "express";
import { NotFound } from "../errors.js";
import type { Services } from "../services/context.js";
import type { LoginLimiters } from "./middleware.js";
import { authPages } from "./web-auth.js";
import { ssoPages } from "./web-sso.js";
import { accountPages } from "./web-account.js";
import { packagePages } from "./web-packages.js";
import { webhookPages } from "./web-webhooks.js";
import { adminPages } from "./web-admin.js";
import { adminTrustPages } from "./web-admin-trust.js";
import { passwordResetPages } from "./web-password-reset.js";
import type { ResetLimiters } from "./password-reset-limits.js";
import { adminPolicyPages } from "./web-admin-policy.js";
import { pageErrorHandler } from "./web-render.js";
import { loadSession, pageHeaders } from "./web-session.js";

/** Where the web interface's pages live; everything else (the API, link pages, assets) is not theirs. */
const PAGE_PATHS = ["/login", "/logout", "/forgot-password", "/reset-password", "/packages", "/account", "/webhooks", "/admin"];

/**
 * The web interface: server-rendered pages for signed-in users, calling the same service
 * functions as the API handlers. Every page resolves the session cookie first, answers
 * `no-store` under the page CSP, and ends its errors as pages (pageErrorHandler), not JSON.
 */
export function webApp(s: Services, login: LoginLimiters, reset: ResetLimiters): Router {
  const r = Router();
  const session = loadSession(s);
  r.get("/", session, (req, res) => res.redirect(303, req.webSession ? "/packages" : "/login"));
  r.use(PAGE_PATHS, session, ...pageHeaders);
  r.use(authPages(s, login));
  r.use(passwordResetPages(s, reset));
  r.use(ssoPages(s));
  r.use(accountPages(s, login));
  r.use(packagePages(s));
  r.use(webhookPages(s));
  r.use(adminPages(s));
  r.use(adminTrustPages(s));
  r.use(adminPolicyPages(s));
  // An unknown address under the pages' paths is the 404 page, not the API's JSON.
  r.use(PAGE_PATHS, () => {
    throw new NotFound("not_found", "There is nothing at this address.");
  });
  r.use(PAGE_PATHS, pageErrorHandler(s));
  return r;
}
