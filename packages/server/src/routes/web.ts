import path from "node:path";
import { fileURLToPath } from "node:url";
import express, { Router, type Request, type Response } from "express";
import type { Services } from "../services/context.js";
import { ApiError } from "../errors.js";
import { linkView, liveLink } from "../services/links.js";
import { deadLinkPage, linkPage, PAGE_CSP } from "../web/pages.js";
import type { linkLookupLimiter } from "./links.js";

const ASSETS = fileURLToPath(new URL("../../assets/", import.meta.url));

function pageHeaders(res: Response): void {
  res.setHeader("Content-Security-Policy", PAGE_CSP);
  // The URL holds the link's secret: never send it on as a Referer, never cache or index it.
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("X-Robots-Tag", "noindex, nofollow");
  res.setHeader("X-Frame-Options", "DENY");
}

/** The magic-link page `/l/<secret>` and its static assets. */
export function webRoutes(s: Services, limiter: ReturnType<typeof linkLookupLimiter>): Router {
  const r = Router();
  r.use("/assets", express.static(path.resolve(ASSETS), { index: false, maxAge: "1h", dotfiles: "deny" }));

  r.get("/l/:secret", limiter, async (req: Request, res: Response) => {
    pageHeaders(res);
    try {
      const p = await liveLink(s, req.params.secret as string);
      const v = await linkView(s, p);
      res.type("html").send(
        linkPage({
          secret: req.params.secret as string,
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

/** A rate-limited link page answers HTML, not JSON. */
export function sendTooManyPage(res: Response): void {
  pageHeaders(res);
  res.type("html").send(deadLinkPage(429, "Too many failed link lookups from this address."));
}
