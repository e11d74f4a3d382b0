import express from "express";
import type { Services } from "./services/context.js";
import { requestLogger } from "./http/logging.js";
import { errorHandler, notFoundHandler } from "./http/errors.js";
import { securityHeaders } from "./http/security-headers.js";
import { specRouter } from "./http/router.js";
import { metricsWithToken, requestMetrics } from "./http/metrics.js";
import { handlers } from "./routes/index.js";
import { linkLookupLimiter, loginLimiters, operationMiddleware, type LimitedPages } from "./routes/middleware.js";
import { docsRoutes } from "./routes/docs.js";
import { sendTooManyPage, webRoutes } from "./routes/web.js";
import { webApp } from "./routes/web-app.js";
import { sendSignInLimited } from "./routes/web-auth.js";
import { sendResetLimited } from "./routes/web-password-reset.js";
import { resetLimiters } from "./routes/password-reset-limits.js";
import { sendAccountLimited } from "./routes/web-account.js";

export interface AppOptions {
  /** Validate every response against openapi.yaml (tests turn this on). */
  validateResponses?: boolean;
}

/**
 * Builds the Express app. Never listens and never reads the environment.
 *
 * A request meets: the request id and logger, the security headers, then either a recipient's
 * page (`/l/<link>`, `/assets`), a page of the web interface (`/login`, `/packages`, `/account`,
 * …; routes/web-app.ts), the API docs, or an operation of openapi.yaml routed by specRouter
 * (auth → body → validation → the handler named by its operationId); errors end in errorHandler
 * (the pages have their own, which answers pages).
 */
export function createApp(s: Services, opts: AppOptions = {}): express.Express {
  const app = express();
  app.disable("x-powered-by");
  // JSON answers are not cached by ETag (downloads set their own, the SHA-256): no hash of every body.
  app.set("etag", false);
  app.set("trust proxy", s.config.trustProxy === false ? false : parseTrustProxy(s.config.trustProxy));
  app.set("query parser", "simple");

  // First, so the time covers everything the request meets.
  if (s.metrics.enabled) app.use(requestMetrics(s.metrics));
  app.use(requestLogger(s.logger));
  app.use(securityHeaders({ https: s.config.publicUrl.startsWith("https:") }));

  // One counter of failed link lookups for the pages and the JSON API together, one set of
  // failed-login counters for the sign-in page and POST /auth/token together, and one set of
  // password reset counters for the reset pages and their operations together.
  // A limited page request is answered with a page.
  const limitedPages: LimitedPages = {
    linkLimited: (res, detail) => sendTooManyPage(res, detail),
    signInLimited: (req, res, detail) => sendSignInLimited(s, req, res, detail),
    accountLimited: (req, res, detail) => void sendAccountLimited(s, req, res, detail).catch(() => res.headersSent || res.end()),
    resetLimited: (req, res, detail) => sendResetLimited(s, req, res, detail),
  };
  const linkLimiter = linkLookupLimiter(s, limitedPages);
  const login = loginLimiters(s, limitedPages);
  const reset = resetLimiters(s, limitedPages);
  // SF_METRICS_TOKEN: /metrics on this port, for that bearer token only (SF_METRICS_LISTEN serves
  // it on an address of its own instead, or as well). Neither: a 404 like any unknown path.
  if (s.config.metricsToken !== null) app.get("/metrics", metricsWithToken(s.metrics, s.config.metricsToken));
  const pages = express.Router();
  pages.use(webRoutes(s, linkLimiter));
  pages.use(webApp(s, login, reset));
  // An API request never matches a page: it skips the pages' routers and their few dozen path
  // matches (measurable on GET /api/v1/me at thousands of requests a second).
  app.use((req, res, next) => (req.url.startsWith("/api/") ? next() : pages(req, res, next)));
  // Many answers carry a secret (a token, a webhook's signing secret, magic links): no cache may
  // keep any API answer, unless it says otherwise (downloads and the docs' assets set their own).
  app.use("/api/v1", (_req, res, next) => {
    res.setHeader("Cache-Control", "no-store");
    next();
  });
  app.use("/api/v1", docsRoutes());
  app.use("/api/v1", specRouter(s, handlers, { validateResponses: opts.validateResponses ?? false, before: operationMiddleware(s, linkLimiter, login, reset) }));

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}

function parseTrustProxy(v: string): boolean | number | string {
  if (v === "true") return true;
  if (/^\d+$/.test(v)) return Number(v);
  return v;
}
