import { Router, type Request } from "express";
import { failureRateLimit } from "../http/rate-limit.js";
import type { Services } from "../services/context.js";
import { discardBody, receiveFile } from "../http/multipart.js";
import { sendStoredFile } from "../http/send-file.js";
import { archiveName, sendArchive } from "../http/archive.js";
import { attachmentDisposition } from "../services/file-names.js";
import { addFile } from "../services/files.js";
import { sendTooManyPage } from "./web.js";
import { completeLink, linkArchiveFiles, linkFile, linkView, liveLink, planLinkUpload, recordEvent, type Client } from "../services/links.js";

export function clientOf(req: Request): Client {
  const ua = req.headers["user-agent"];
  return { address: req.ip, userAgent: typeof ua === "string" ? ua : undefined };
}

/**
 * Link guessing: failed lookups (unknown or dead links) count per client address; past the limit
 * every link request from that address gets 429 until the window passes. Successful requests are
 * not counted, so a recipient with a valid link is never slowed down by this.
 */
export function linkLookupLimiter(s: Services) {
  return failureRateLimit({
    limit: s.config.linkMaxFailuresPerIp,
    windowSeconds: s.config.linkWindowSeconds,
    isFailure: (res) => res.statusCode === 404 || res.statusCode === 410,
    detail: "Too many failed link lookups from this address; try again later",
    // The link page answers a person, in HTML; the JSON API keeps `{"detail"}`.
    respond: (req, res) => {
      if (req.originalUrl.startsWith("/l/")) sendTooManyPage(res);
      else res.json({ detail: "Too many failed link lookups from this address; try again later" });
    },
  });
}

/** `/api/v1/links/{link}…`: the recipient's JSON API, authorized by the link alone. */
export function linkRoutes(s: Services, limiter: ReturnType<typeof linkLookupLimiter>): Router {
  const r = Router();
  r.use("/links", limiter);
  r.use("/links", (_req, res, next) => {
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("Cache-Control", "no-store");
    res.setHeader("X-Robots-Tag", "noindex");
    next();
  });

  r.get("/links/:link", async (req, res) => {
    res.json(await linkView(s, await liveLink(s, req.params.link)));
  });

  r.get("/links/:link/files/:file_id", async (req, res) => {
    const p = await liveLink(s, req.params.link);
    const f = await linkFile(s, p, req.params.file_id);
    await sendStoredFile(req, res, s.storage, f, {
      cacheControl: "no-store",
      // A download is an answer that carries the file from its first byte: a resumed range of a
      // file the client already has is not a new download, nor are a HEAD, a 304 or a 416.
      beforeBody: async (range) => {
        if (!range || range.start === 0) await recordEvent(s, p.id, "file_download", clientOf(req), { id: f.id, name: f.name });
      },
    });
  });

  r.get("/links/:link/archive", async (req, res) => {
    const p = await liveLink(s, req.params.link);
    const files = await linkArchiveFiles(s, p);
    await recordEvent(s, p.id, "archive_download", clientOf(req));
    res.setHeader("Content-Disposition", attachmentDisposition(archiveName(p.title)));
    await sendArchive(res, s.storage, files);
  });

  r.post("/links/:link/files", async (req, res) => {
    const p = await liveLink(s, req.params.link);
    const plan = planLinkUpload(s, p);
    try {
      const received = await receiveFile(req, s.storage, plan);
      const file = await addFile(s, p.id, received, { allowActiveInbound: true });
      await recordEvent(s, p.id, "upload", clientOf(req), { id: file.id, name: file.name });
      res.status(201).json(file);
    } catch (err) {
      discardBody(req);
      throw err;
    }
  });

  r.post("/links/:link/complete", async (req, res) => {
    const p = await liveLink(s, req.params.link);
    res.json(await completeLink(s, p, clientOf(req)));
  });

  return r;
}
