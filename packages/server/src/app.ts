import express, { type NextFunction, type Request, type Response } from "express";
import type { Services } from "./services/context.js";
import { requestLogger } from "./http/logging.js";
import { errorHandler, notFoundHandler } from "./http/errors.js";
import { openApiValidator } from "./http/validator.js";
import { requireAuth } from "./http/auth.js";
import { docsRoutes } from "./routes/docs.js";
import { healthRoutes } from "./routes/health.js";
import { authRoutes } from "./routes/auth.js";
import { meRoutes } from "./routes/me.js";
import { adminRoutes } from "./routes/admin.js";
import { packageRoutes } from "./routes/packages.js";
import { fileRoutes, multipartPlaceholder } from "./routes/files.js";
import { linkLookupLimiter, linkRoutes } from "./routes/links.js";
import { webRoutes } from "./routes/web.js";

export interface AppOptions {
  /** Validate every response against openapi.yaml (tests turn this on). */
  validateResponses?: boolean;
}

/** Builds the Express app. Never listens and never reads the environment. */
export function createApp(s: Services, opts: AppOptions = {}): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", s.config.trustProxy === false ? false : parseTrustProxy(s.config.trustProxy));
  app.set("query parser", "simple");

  app.use(requestLogger(s.logger));
  app.use((_req: Request, res: Response, next: NextFunction) => {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("X-Frame-Options", "DENY");
    res.setHeader("Referrer-Policy", "no-referrer");
    next();
  });

  // One counter of failed link lookups for the pages and the JSON API together.
  const linkLimiter = linkLookupLimiter(s);
  app.use(webRoutes(s, linkLimiter));
  app.use("/api/v1", docsRoutes());

  // JSON bodies only where the content type says JSON; upload routes get the raw stream.
  app.use("/api", express.json({ limit: "1mb", type: ["application/json", "application/*+json"] }));
  app.use(multipartPlaceholder);
  app.use(openApiValidator({ validateResponses: opts.validateResponses ?? false }));

  const api = express.Router();
  api.use(healthRoutes(s));
  api.use(authRoutes(s));
  api.use(linkRoutes(s, linkLimiter));
  api.use(requireAuth(s));
  api.use(meRoutes(s));
  api.use(adminRoutes(s));
  api.use(packageRoutes(s));
  api.use(fileRoutes(s));
  app.use("/api/v1", api);

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}

function parseTrustProxy(v: string): boolean | number | string {
  if (v === "true") return true;
  if (/^\d+$/.test(v)) return Number(v);
  return v;
}
