import type { NextFunction, Request, RequestHandler, Response } from "express";
import helmet from "helmet";

/**
 * Every security header the server sends, in one place: helmet's defaults (nosniff,
 * frame-ancestors, Referrer-Policy, COOP/CORP, …) with one Content-Security-Policy per kind of
 * answer. The policy of the whole app is the strictest (JSON needs nothing); pages and the API
 * docs replace it with their own.
 */

/** JSON answers and errors: nothing may load, nothing may frame them. */
const API_CSP = { "default-src": ["'none'"], "frame-ancestors": ["'none'"], "base-uri": ["'none'"], "form-action": ["'none'"] };

/** Our own HTML pages: no inline script or style anywhere; everything from our /assets. */
const PAGE_CSP = {
  "default-src": ["'none'"],
  "script-src": ["'self'"],
  "style-src": ["'self'"],
  "img-src": ["'self'", "data:"],
  "connect-src": ["'self'"],
  "form-action": ["'self'"],
  "base-uri": ["'none'"],
  "frame-ancestors": ["'none'"],
};

/**
 * A magic link's page: the page CSP, plus what an encrypted package's page needs to decrypt as it
 * downloads: its service worker (/decrypt-sw.js, our origin) and the hidden frame that starts each
 * download at /decrypt/… (our origin, answered by that worker). Still no other origin.
 */
const LINK_PAGE_CSP = { ...PAGE_CSP, "worker-src": ["'self'"], "frame-src": ["'self'"] };

/**
 * Swagger UI and ReDoc, served from our own bundles. Their scripts are files (no inline script),
 * but both put inline styles into the page (Swagger UI's template and React style props; ReDoc's
 * styled-components), and ReDoc runs its search index in a blob: worker.
 */
const DOCS_CSP = {
  "default-src": ["'none'"],
  "script-src": ["'self'"],
  "style-src": ["'self'", "'unsafe-inline'"],
  "img-src": ["'self'", "data:"],
  "font-src": ["'self'", "data:"],
  "connect-src": ["'self'"],
  "worker-src": ["blob:"],
  "form-action": ["'self'"],
  "base-uri": ["'none'"],
  "frame-ancestors": ["'none'"],
};

/** A downloaded file is never a document of our origin, even if a browser tried to render it. */
export const DOWNLOAD_CSP = "sandbox; default-src 'none'";

/** The app-wide headers. HSTS only when the public URL is https (it means nothing on http). */
export function securityHeaders(opts: { https: boolean }): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: API_CSP },
    xFrameOptions: { action: "deny" },
    referrerPolicy: { policy: "no-referrer" },
    strictTransportSecurity: opts.https ? { maxAge: 31_536_000, includeSubDomains: false } : false,
    crossOriginResourcePolicy: { policy: "same-origin" },
  });
}

/** The CSP of our HTML pages (replaces the app-wide one). */
export const pageSecurityHeaders: RequestHandler = helmet.contentSecurityPolicy({ useDefaults: false, directives: PAGE_CSP });

/** The CSP of a magic link's page (replaces the app-wide one). */
export const linkPageSecurityHeaders: RequestHandler = helmet.contentSecurityPolicy({ useDefaults: false, directives: LINK_PAGE_CSP });

/** The CSP under which Swagger UI and ReDoc work (replaces the app-wide one). */
export const docsSecurityHeaders: RequestHandler = helmet.contentSecurityPolicy({ useDefaults: false, directives: DOCS_CSP });

/**
 * A magic link's URL is a secret: never cached or indexed (the JSON API and the page alike).
 * Helmet already sends `Referrer-Policy: no-referrer` everywhere, so it never leaks as a Referer.
 */
export function linkHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("X-Robots-Tag", "noindex, nofollow");
  next();
}
