import { pipeline } from "node:stream/promises";
import type { Response } from "express";
import yazl from "yazl";
import type { BlobStore } from "../storage/blob-store.js";
import type { FileRow } from "../db/packages.js";

/** A safe, readable zip file name from a package title. */
export function archiveName(title: string): string {
  const slug = title
    .normalize("NFKD")
    .replace(/[^\w\s.-]/g, "")
    .trim()
    .replace(/\s+/g, "-")
    .slice(0, 80);
  return `${slug || "speedyfiles"}.zip`;
}

/**
 * Streams every file as one zip: stored, not compressed (fast; most transfers are already
 * compressed formats), zip64 when an entry or the archive passes 4 GiB (yazl decides), each file
 * opened only when its turn comes, so memory stays flat whatever the count or size. With every
 * size known up front yazl computes the final length, so the client gets a Content-Length and a
 * real progress bar.
 */
export async function sendArchive(res: Response, store: BlobStore, files: FileRow[]): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const f of files) {
    zip.addReadStreamLazy(f.name, { size: f.size, compress: false, mtime: new Date(f.created_at) }, (cb) => {
      cb(null, store.read(f.storage_key));
    });
  }
  const finalSize = await new Promise<number>((resolve) => zip.end({ forceZip64Format: false, comment: "" }, ((n: number) => resolve(n)) as () => void));
  res.status(200);
  res.setHeader("Content-Type", "application/zip");
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Content-Security-Policy", "sandbox; default-src 'none'");
  res.setHeader("Cache-Control", "private, no-store");
  if (finalSize >= 0) res.setHeader("Content-Length", String(finalSize));
  try {
    await pipeline(zip.outputStream, res);
  } catch {
    res.destroy();
  }
}
