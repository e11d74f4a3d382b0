import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { Router } from "express";
import swaggerUi from "swagger-ui-express";
import { loadSpec } from "../spec.js";
import { docsSecurityHeaders } from "../http/security-headers.js";

const require = createRequire(import.meta.url);
// redoc has no `exports` map, so its bundle path resolves directly; served by us so the page
// works on a box without internet (redoc-express would load it from a CDN).
const REDOC_BUNDLE = path.join(path.dirname(require.resolve("redoc/package.json")), "bundles", "redoc.standalone.js");

// The one URL of another origin in the bundle: Redocly's logo in the menu's footer, fetched from
// their CDN. The docs are promised offline (and the CSP would block it anyway), so the served
// bundle asks for no image: ReDoc drops an image that fails to load, and an empty src loads nothing.
const REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg";
let redocBundle: Buffer | undefined;
function redocBundleBytes(): Buffer {
  if (!redocBundle) {
    const js = readFileSync(REDOC_BUNDLE, "utf8");
    if (!js.includes(REDOC_CDN_LOGO)) throw new Error("redoc bundle changed: the CDN logo URL was not found");
    redocBundle = Buffer.from(js.split(REDOC_CDN_LOGO).join(""), "utf8");
  }
  return redocBundle;
}

const REDOC_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>SpeedyFiles API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{margin:0}</style>
</head>
<body>
<redoc spec-url="/api/v1/openapi.json"></redoc>
<script src="/api/v1/redoc/redoc.standalone.js"></script>
</body>
</html>`;

/**
 * Swagger UI at /api/v1/docs, ReDoc at /api/v1/redoc, the spec at /api/v1/openapi.json. Swagger
 * UI keeps a token typed into "Authorize" in memory only (`persistAuthorization: false`), never in
 * the browser's storage where any later script on the origin could read it.
 */
export function docsRoutes(): Router {
  const r = Router();
  r.use(["/docs", "/redoc"], docsSecurityHeaders);
  const spec = loadSpec();

  r.get("/openapi.json", (_req, res) => {
    res.json(spec);
  });

  r.get("/redoc", (_req, res) => {
    res.type("html").send(REDOC_PAGE);
  });
  r.get("/redoc/redoc.standalone.js", (_req, res) => {
    res.set("Cache-Control", "public, max-age=86400").type("text/javascript; charset=utf-8").send(redocBundleBytes());
  });

  r.use(
    "/docs",
    swaggerUi.serve,
    swaggerUi.setup(undefined, {
      customSiteTitle: "SpeedyFiles API",
      // validatorUrl null: no badge from validator.swagger.io (another origin; the docs work offline).
      swaggerOptions: { url: "/api/v1/openapi.json", persistAuthorization: false, validatorUrl: null },
    }),
  );
  return r;
}
