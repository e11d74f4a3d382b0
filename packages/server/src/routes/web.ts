import path from "node:path";
import { fileURLToPath } from "node:url";
import express, { Router, type Request, type RequestHandler, type Response } from "express";
import type { Services } from "../services/context.js";
import { ApiError } from "../errors.js";
import { linkCookie, liveLink, unlockLink, viewOf, type LiveLink } from "../services/links.js";
import { linkUploadMaxBytes } from "../services/policy.js";
import { linkHeaders, linkPageSecurityHeaders, pageSecurityHeaders } from "../http/security-headers.js";
import { readCookie, setCookie } from "../http/session-cookie.js";
import { deadLinkPage, decryptMissPage, DECRYPT_SW_SCRIPT, E2E_ASSETS, linkPage, linkPasswordPage, TUS_CLIENT_SCRIPT } from "../web/pages.js";
import { LINK_COOKIE } from "./links.js";
import { FORMAT_BYTES_SCRIPT, FORMAT_BYTES_SCRIPT_PATH } from "../web/format.js";
import { createRequire } from "node:module";

const ASSETS = fileURLToPath(new URL("../../assets/", import.meta.url));
/** The bundled scripts of the encrypted pages (build-assets.mjs, at `pnpm build`). */
const BUILT_ASSETS = fileURLToPath(new URL("../../dist/assets/", import.meta.url));
const TUS_CLIENT_FILE = path.join(path.dirname(createRequire(import.meta.url).resolve("tus-js-client/package.json")), "dist", "tus.min.js");

/** The magic-link page `/l/<secret>` and its static assets. */
export function webRoutes(s: Services, linkLimiter: RequestHandler): Router {
  const r = Router();
  // The pages' size formatter is the server's own function (one way to write sizes everywhere).
  r.get(FORMAT_BYTES_SCRIPT_PATH, (_req, res) => {
    res.set("Cache-Control", "public, max-age=3600").type("text/javascript; charset=utf-8").send(FORMAT_BYTES_SCRIPT);
  });
  r.use(E2E_ASSETS, express.static(path.join(BUILT_ASSETS, "e2e"), { index: false, maxAge: "1h", dotfiles: "deny" }));
  // The decrypting service worker: at the root so its scope may be /decrypt/; always revalidated,
  // so a new build replaces it. Its CSP is the page's (fetch to our own origin only).
  r.get(DECRYPT_SW_SCRIPT, pageSecurityHeaders, (_req, res) => {
    res.sendFile(path.join(BUILT_ASSETS, "decrypt-sw.js"), { headers: { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache" } });
  });
  // /decrypt/… belongs to that worker, which answers the downloads it was handed. What reaches the
  // server (no worker, or an id it does not know) gets a harmless page, never a file.
  r.all("/decrypt/{*rest}", pageSecurityHeaders, linkHeaders, (_req, res) => {
    res.status(404).type("html").send(decryptMissPage());
  });
  r.use("/assets", express.static(path.resolve(ASSETS), { index: false, maxAge: "1h", dotfiles: "deny" }));
  // tus-js-client for the pages' resumable uploads, from our own origin (the CSP allows no other).
  r.get(TUS_CLIENT_SCRIPT, (_req, res) => {
    res.sendFile(TUS_CLIENT_FILE, { maxAge: "1h", dotfiles: "allow", headers: { "Content-Type": "text/javascript; charset=utf-8" } });
  });
  // Browsers ask for /favicon.ico on every origin, the API docs included.
  r.get("/favicon.ico", (_req, res) => {
    res.sendFile(path.join(ASSETS, "favicon.svg"), { maxAge: "1d", headers: { "Content-Type": "image/svg+xml" } });
  });

  /** 404 and 410 as a page a person understands; anything else goes on to the error handler. */
  const deadLink = (res: Response, err: unknown): void => {
    if (err instanceof ApiError && (err.status === 404 || err.status === 410)) {
      res
        .status(err.status)
        .type("html")
        .send(deadLinkPage(err.status, err.message, err.code));
      return;
    }
    throw err;
  };
  const secure = s.config.publicUrl.startsWith("https:");
  const askPassword = (res: Response, secret: string, l: LiveLink, status: number, error?: string) => {
    res
      .status(status)
      .type("html")
      .send(linkPasswordPage({ secret, title: l.pkg.title, error }));
  };

  r.get("/l/:secret", linkPageSecurityHeaders, linkHeaders, linkLimiter, async (req: Request, res: Response) => {
    const secret = req.params.secret as string;
    try {
      const l = await liveLink(s, secret);
      try {
        await unlockLink(s, l, { cookie: readCookie(req, LINK_COOKIE) });
      } catch (err) {
        if (err instanceof ApiError && err.code === "link_password_required") return askPassword(res, secret, l, 200);
        throw err;
      }
      const v = await viewOf(s, l);
      const usedUp = new Set(v.used_up_file_ids ?? []);
      // An upload request says how large a file may be (the owner's policy, or the server's limit).
      const maxFileBytes = v.direction === "inbound" ? await linkUploadMaxBytes(s, l.pkg.owner_id) : undefined;
      res.type("html").send(
        linkPage({
          secret,
          title: v.title,
          message: v.message,
          direction: v.direction,
          senderName: v.sender_name,
          senderEmail: v.sender_email,
          expiresAt: v.expires_at,
          files: v.files.map((f) => ({ ...f, usedUp: usedUp.has(f.id) })),
          totalSize: v.total_size,
          completedAt: v.completed_at,
          maxDownloads: v.max_downloads ?? null,
          encryption: v.encryption ?? null,
          sealedMessage: v.sealed_message ?? null,
          maxFileBytes,
        }),
      );
    } catch (err) {
      deadLink(res, err);
    }
  });

  // The password form of a protected link. Right: an HttpOnly cookie for this link's page and its
  // API paths only (at most 12 hours, never past the expiry; an HMAC, not the password), then back
  // to the page. Wrong: 403 and the form again, counted by the link limiters like a wrong
  // X-Link-Password.
  r.post(
    "/l/:secret",
    pageSecurityHeaders,
    linkHeaders,
    express.urlencoded({ extended: false, limit: "8kb", parameterLimit: 10 }),
    linkLimiter,
    async (req: Request, res: Response) => {
      const secret = req.params.secret as string;
      try {
        const l = await liveLink(s, secret);
        if (l.pkg.password_hash === null) return void res.redirect(303, `/l/${encodeURIComponent(secret)}`);
        const given = (req.body as Record<string, unknown> | undefined)?.password;
        const password = typeof given === "string" ? given.slice(0, 1024) : "";
        // A form error answers 4xx (never a 200 a reload would post again).
        if (password === "") return askPassword(res, secret, l, 422, "Enter the password the sender gave you.");
        try {
          await unlockLink(s, l, { password });
        } catch (err) {
          if (err instanceof ApiError && err.code === "link_password_wrong") {
            res.locals.errorCode = err.code;
            return askPassword(res, secret, l, 403, "That password is not right.");
          }
          // Past the package's count of wrong passwords: a page saying so, with Retry-After.
          if (err instanceof ApiError && err.status === 429) {
            for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
            res.status(429);
            return sendTooManyPage(res, `${err.message}.`);
          }
          throw err;
        }
        const c = linkCookie(l, s.clock());
        for (const path of [`/l/${secret}`, `/api/v1/links/${secret}`]) {
          setCookie(res, LINK_COOKIE, c.value, { path, secure, maxAgeSeconds: c.maxAgeSeconds });
        }
        res.redirect(303, `/l/${encodeURIComponent(secret)}`);
      } catch (err) {
        deadLink(res, err);
      }
    },
  );

  return r;
}

/** A rate-limited link page answers HTML, not JSON (the limiter's headers are already set). */
export function sendTooManyPage(res: Response, detail = "Too many failed link lookups from this address."): void {
  res.type("html").send(deadLinkPage(429, detail));
}
