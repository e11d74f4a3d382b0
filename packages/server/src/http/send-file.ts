import { pipeline } from "node:stream/promises";
import type { Request, Response } from "express";
import { RangeNotSatisfiable } from "../errors.js";
import type { BlobStore } from "../storage/blob-store.js";
import { attachmentDisposition } from "../services/file-names.js";
import type { FileRow } from "../db/packages.js";

/** What serving a stored file needs from its row. */
export type Servable = Pick<FileRow, "name" | "size" | "sha256" | "content_type" | "storage_key" | "created_at">;

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` → an inclusive range; undefined for a multi-range or junk (served whole). */
export function parseRange(header: string, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) return undefined;
  }
  if (start >= size || size === 0) return "unsatisfiable";
  return { start, end };
}

/**
 * Streams a stored file as an attachment with ETag (its SHA-256), Range / If-Range and
 * If-None-Match. Never inline: `nosniff` plus a sandbox CSP, so nothing uploaded runs on our origin.
 */
export interface SendFileOptions {
  /** Default `private, no-cache`; a magic link's downloads are `no-store` (the URL is a secret). */
  cacheControl?: string;
  /**
   * Called once the answer is known to carry bytes of the file (not for a 304, a 416 or a HEAD),
   * with the range served (undefined: the whole file), before anything is sent.
   */
  beforeBody?: (range: { start: number; end: number } | undefined) => Promise<void>;
}

export async function sendStoredFile(req: Request, res: Response, store: BlobStore, file: Servable, opts: SendFileOptions = {}): Promise<void> {
  const etag = `"${file.sha256}"`;
  res.setHeader("ETag", etag);
  res.setHeader("Accept-Ranges", "bytes");
  res.setHeader("Last-Modified", new Date(file.created_at).toUTCString());
  res.setHeader("Cache-Control", opts.cacheControl ?? "private, no-cache");

  const inm = req.headers["if-none-match"];
  if (typeof inm === "string" && inm.split(",").some((t) => t.trim().replace(/^W\//, "") === etag)) {
    res.status(304).end();
    return;
  }

  let range: { start: number; end: number } | undefined;
  const rangeHeader = req.headers.range;
  const ifRange = req.headers["if-range"];
  // If-Range with a stale validator means "send it all": the client's partial copy is outdated.
  const rangeAllowed = typeof ifRange !== "string" || ifRange.trim() === etag;
  if (typeof rangeHeader === "string" && rangeAllowed) {
    const r = parseRange(rangeHeader, file.size);
    if (r === "unsatisfiable") throw new RangeNotSatisfiable(file.size);
    range = r;
  }

  // Only an answer that carries the file is an attachment (a 416 stays a JSON error body).
  res.setHeader("Content-Disposition", attachmentDisposition(file.name));
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Content-Security-Policy", "sandbox; default-src 'none'");
  res.setHeader("Content-Type", file.content_type);
  if (range) {
    res.status(206);
    res.setHeader("Content-Range", `bytes ${range.start}-${range.end}/${file.size}`);
    res.setHeader("Content-Length", String(range.end - range.start + 1));
  } else {
    res.status(200);
    res.setHeader("Content-Length", String(file.size));
  }
  if (req.method !== "HEAD") await opts.beforeBody?.(range);
  if (req.method === "HEAD" || file.size === 0) {
    res.end();
    return;
  }
  try {
    await pipeline(store.read(file.storage_key, range), res);
  } catch {
    // The client went away or the blob could not be read mid-stream; the status line is gone.
    res.destroy();
  }
}
