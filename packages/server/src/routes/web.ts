import path from "node:path";
import { fileURLToPath } from "node:url";
import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from "express";
import type { Services } from "../services/context.js";
import { ApiError } from "../errors.js";
import { getLink } from "../services/links.js";
import { pageSecurityHeaders } from "../http/security-headers.js";
import { deadLinkPage, linkPage, TUS_CLIENT_SCRIPT } from "../web/pages.js";
import { createRequire } from "node:module";

const ASSETS = fileURLToPath(new URL("../../assets/", import.meta.url));
const TUS_CLIENT_FILE = path.join(path.dirname(createRequire(import.meta.url).resolve("tus-js-client/package.json")), "dist", "tus.min.js");

/**
 * A magic link's URL is a secret: never cached or indexed (the JSON API and the page alike).
 * Helmet already sends `Referrer-Policy: no-referrer` everywhere, so it never leaks as a Referer.
 */
export function linkHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("X-Robots-Tag", "noindex, nofollow");
  next();
}

/** The magic-link page `/l/<secret>` and its static assets. */
export function webRoutes(s: Services, linkLimiter: RequestHandler): Router {
  const r = Router();
  r.use("/assets", express.static(path.resolve(ASSETS), { index: false, maxAge: "1h", dotfiles: "deny" }));
  // tus-js-client for the pages' resumable uploads, from our own origin (the CSP allows no other).
  r.get(TUS_CLIENT_SCRIPT, (_req, res) => {
    res.sendFile(TUS_CLIENT_FILE, { maxAge: "1h", dotfiles: "allow", headers: { "Content-Type": "text/javascript; charset=utf-8" } });
  });
  // Browsers ask for /favicon.ico on every origin, the API docs included.
  r.get("/favicon.ico", (_req, res) => {
    res.sendFile(path.join(ASSETS, "favicon.svg"), { maxAge: "1d", headers: { "Content-Type": "image/svg+xml" } });
  });

  r.get("/l/:secret", pageSecurityHeaders, linkHeaders, linkLimiter, async (req: Request, res: Response) => {
    const secret = req.params.secret as string;
    try {
      const v = await getLink(s, secret);
      res.type("html").send(
        linkPage({
          secret,
          title: v.title,
          message: v.message,
          direction: v.direction,
          senderName: v.sender_name,
          senderEmail: v.sender_email,
          expiresAt: v.expires_at,
          files: v.files,
          totalSize: v.total_size,
          completedAt: v.completed_at,
        }),
      );
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 410)) {
        res.status(err.status).type("html").send(deadLinkPage(err.status, err.message));
        return;
      }
      throw err;
    }
  });

  return r;
}

/** A rate-limited link page answers HTML, not JSON (the limiter's headers are already set). */
export function sendTooManyPage(res: Response): void {
  res.type("html").send(deadLinkPage(429, "Too many failed link lookups from this address."));
}
