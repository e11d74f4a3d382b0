import { finished, pipeline } from "node:stream/promises";
import type { Request, Response } from "express";
import type { Logger } from "pino";
import yazl from "yazl";
import { RangeNotSatisfiable } from "../errors.js";
import type { BlobStore, Offload } from "../storage/blob-store.js";
import { attachmentDisposition } from "../services/file-names.js";
import type { ArchiveDownload, ByteRange, Download, FileDownload } from "../services/downloads.js";
import { DOWNLOAD_CSP } from "./security-headers.js";
import type { TransferMeter } from "../metrics/registry.js";

export type { Download };

/**
 * More ranges than this in one header are ignored unread (the whole file is sent): a real client
 * asks for one, or a few; a long list is a broken client or an attempt to make the server work
 * (RFC 9110 §14.2 lets a server ignore such a header).
 */
export const MAX_RANGES = 100;

/** Compares two runs of ASCII digits as the integers they are, however long. */
function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, "");
  const y = b.replace(/^0+(?=\d)/, "");
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * A `Range` header as RFC 9110 §14 says to read it, for a representation of `size` bytes:
 * - one satisfiable range (`bytes=a-b`, `bytes=a-`, `bytes=-n`, the end clamped to the size) → that
 *   inclusive range (a 206);
 * - every range unsatisfiable (each starts at or past the end, or is `-0`) → "unsatisfiable" (416);
 * - anything else → undefined, the header ignored and the whole file sent (200): a unit other than
 *   `bytes`, a malformed or invalid range (`a-b` with b < a) anywhere in the list, more than
 *   MAX_RANGES ranges, or several ranges of which any is satisfiable (no multipart/byteranges
 *   answers here; the RFC lets a server ignore Range, as Express's `send` does).
 * Numbers of any length are safe: a start too big for a double is past the end, an end too big is
 * clamped.
 */
export function parseRange(header: string, size: number): ByteRange | "unsatisfiable" | undefined {
  const eq = header.indexOf("=");
  // The unit is compared case-insensitively (RFC 9110 §14.1); no whitespace around "=".
  if (eq < 0 || header.slice(0, eq).trimStart().toLowerCase() !== "bytes") return undefined;
  const set = header.slice(eq + 1);
  // Count before splitting: a header of thousands of ranges is ignored without building a list of them.
  let commas = 0;
  for (let i = set.indexOf(","); i >= 0 && commas <= MAX_RANGES; i = set.indexOf(",", i + 1)) commas++;
  if (commas > MAX_RANGES) return undefined;
  // A list may hold empty elements and whitespace around its commas (RFC 9110 §5.6.1).
  const specs = set
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (specs.length === 0 || specs.length > MAX_RANGES) return undefined;
  const satisfiable: ByteRange[] = [];
  for (const spec of specs) {
    const m = /^(\d*)-(\d*)$/.exec(spec);
    if (!m || (m[1] === "" && m[2] === "")) return undefined;
    const [, first = "", last = ""] = m;
    if (first === "") {
      // A suffix: the last n bytes, all of them when n is the size or more; -0 is unsatisfiable.
      const suffix = Number(last);
      if (suffix > 0 && size > 0) satisfiable.push({ start: Math.max(0, size - suffix), end: size - 1 });
      continue;
    }
    if (last !== "" && compareDigits(last, first) < 0) return undefined;
    const start = Number(first);
    if (start < size) satisfiable.push({ start, end: last === "" ? size - 1 : Math.min(Number(last), size - 1) });
  }
  if (satisfiable.length === 0) return "unsatisfiable";
  return specs.length === 1 ? satisfiable[0] : undefined;
}

/**
 * The one download path: sends what a service described. Every answer that carries bytes is an
 * attachment with `nosniff` and a sandbox CSP, so nothing uploaded ever runs on our origin. A
 * HEAD gets the same status and headers and no body. `onSent` runs only when the body went out to
 * its end; its failure is logged (the bytes are already delivered).
 */
export async function sendDownload(req: Request, res: Response, store: BlobStore, d: Download, log: Logger, meter: Pick<TransferMeter, "downloaded">): Promise<void> {
  if (req.method !== "HEAD") meterBody(res, meter);
  // A service's `begin` (a hold on a limited download) is always followed by onSent or onUnsent.
  let begun = false;
  const begin = async (range: ByteRange | undefined) => {
    if (req.method === "HEAD") return;
    await (d.kind === "file" ? d.begin?.(range) : d.begin?.());
    begun = true;
  };
  let sent: { range: ByteRange | undefined; offloaded?: true } | undefined;
  try {
    sent = d.kind === "file" ? await sendFile(req, res, store, d, begin) : await sendArchive(req, res, store, d, begin);
  } catch (err) {
    if (begun) await d.onUnsent?.();
    throw err;
  }
  if (!sent) {
    if (begun) await d.onUnsent?.();
    return;
  }
  try {
    await (d.kind === "file" ? d.onSent?.(sent.range) : d.onSent?.());
  } catch (err) {
    log.error({ err }, "could not record a download");
  }
  // An offloaded answer is ended only now: whoever follows the redirect already finds the
  // download recorded (it counts, and takes from a download limit, when handed out: the server
  // never sees those bytes leave).
  if ("offloaded" in sent) res.end();
}

/**
 * Counts the body's bytes as they are handed to the connection: every way a download sends bytes
 * (a piped read stream, the local store's `sendTo`, the zip) writes them with `res.write`, while
 * headers, error answers and empty bodies go through `res.end` and are not file bytes. Counted at
 * the write, so a client that goes away leaves at most the socket's buffer counted but unsent.
 */
function meterBody(res: Response, meter: Pick<TransferMeter, "downloaded">): void {
  const write = res.write as (this: Response, chunk: unknown, ...rest: unknown[]) => boolean;
  res.write = function meteredWrite(this: Response, chunk: unknown, ...rest: unknown[]): boolean {
    if (!this.destroyed && chunk) meter.downloaded(typeof chunk === "string" ? Buffer.byteLength(chunk) : (chunk as Uint8Array).byteLength);
    return write.call(this, chunk, ...rest);
  } as Response["write"];
}

function attachmentHeaders(res: Response, name: string, contentType: string): void {
  res.setHeader("Content-Disposition", attachmentDisposition(name));
  res.setHeader("Content-Security-Policy", DOWNLOAD_CSP);
  res.setHeader("Content-Type", contentType);
}

/** Streams `source` into the answer; false when the client went away or the bytes could not be read. */
async function stream(res: Response, source: NodeJS.ReadableStream): Promise<boolean> {
  try {
    await pipeline(source, res);
    return true;
  } catch {
    // The status line is gone: all that is left is to cut the connection.
    res.destroy();
    return false;
  }
}

/** Sends a stored blob (or a range of it) as the answer's body, by the store's fastest way. */
async function streamBlob(res: Response, store: BlobStore, key: string, range: ByteRange | undefined): Promise<boolean> {
  if (!store.sendTo) return stream(res, store.read(key, range));
  try {
    await store.sendTo(key, range, res);
    res.end();
    // Resolves once the last byte is out; rejects if the client went away first.
    await finished(res);
    return true;
  } catch {
    res.destroy();
    return false;
  }
}

/** A stored file with ETag (its SHA-256), Range / If-Range and If-None-Match. */
async function sendFile(
  req: Request,
  res: Response,
  store: BlobStore,
  d: FileDownload,
  begin: (range: ByteRange | undefined) => Promise<void>,
): Promise<{ range: ByteRange | undefined; offloaded?: true } | undefined> {
  const { file } = d;
  const etag = `"${file.sha256}"`;
  res.setHeader("ETag", etag);
  res.setHeader("Accept-Ranges", "bytes");
  res.setHeader("Last-Modified", new Date(file.created_at).toUTCString());
  res.setHeader("Cache-Control", d.cacheControl);

  const inm = req.headers["if-none-match"];
  if (typeof inm === "string" && inm.split(",").some((t) => t.trim().replace(/^W\//, "") === etag)) {
    res.status(304).end();
    return undefined;
  }

  let range: ByteRange | undefined;
  const rangeHeader = req.headers.range;
  const ifRange = req.headers["if-range"];
  // If-Range with a stale validator means "send it all": the client's partial copy is outdated.
  const rangeAllowed = typeof ifRange !== "string" || ifRange.trim() === etag;
  if (typeof rangeHeader === "string" && rangeAllowed) {
    const r = parseRange(rangeHeader, file.size);
    if (r === "unsatisfiable") throw new RangeNotSatisfiable(file.size);
    range = r;
  }

  const disposition = attachmentDisposition(file.name);
  let off =
    req.method === "GET" && file.size > 0 && store.offload ? await store.offload(file.storage_key, { contentDisposition: disposition, contentType: file.content_type }) : undefined;
  // nginx's X-Accel-Redirect stays: it is internal, the client sees this origin answer.
  if (off && "location" in off && d.redirect === false) off = undefined;
  // A presigned URL serves the whole object to whoever holds it, whatever Range was asked here
  // (a presigned GET cannot pin a Range: it is a header the client chooses): what is handed out
  // is the whole file, and it is held and counted as such. nginx's X-Accel-Redirect sends only
  // the range the client asked for, so that one keeps it.
  if (off && "location" in off) range = undefined;
  // Before any header of the body: a refusal here still answers a clean error.
  await begin(range);
  if (off) return offloaded(res, off, file.content_type, disposition, range);

  attachmentHeaders(res, file.name, file.content_type);
  if (range) {
    res.status(206);
    res.setHeader("Content-Range", `bytes ${range.start}-${range.end}/${file.size}`);
    res.setHeader("Content-Length", String(range.end - range.start + 1));
  } else {
    res.status(200);
    res.setHeader("Content-Length", String(file.size));
  }
  if (req.method === "HEAD") {
    res.end();
    return undefined;
  }
  if (file.size === 0) {
    res.end();
    return { range };
  }
  return (await streamBlob(res, store, file.storage_key, range)) ? { range } : undefined;
}

/**
 * The bytes are sent by someone else, after every check passed: a `302` to the object store's
 * presigned URL (the client sends its Range there), or an empty answer whose `X-Accel-Redirect`
 * makes nginx send the file from its internal location (nginx honours the client's Range itself
 * and keeps our Content-Disposition and Content-Type). The server never sees the transfer end, so
 * the download counts (`onSent`) before the answer goes out: handing out the bytes is the last thing
 * the server does for it. A presigned URL counts as the whole file (it serves all of it); an
 * X-Accel answer with the range asked for (nginx sends only that).
 */
function offloaded(res: Response, off: Offload, contentType: string, disposition: string, range: ByteRange | undefined): { range: ByteRange | undefined; offloaded: true } {
  if ("location" in off) {
    for (const h of ["ETag", "Accept-Ranges", "Last-Modified"]) res.removeHeader(h);
    // The URL is a short-lived credential: no cache keeps it.
    res.setHeader("Cache-Control", "no-store");
    res.setHeader("Location", off.location);
    res.status(302);
  } else {
    res.setHeader("Content-Disposition", disposition);
    res.setHeader("Content-Security-Policy", DOWNLOAD_CSP);
    res.setHeader("Content-Type", contentType);
    res.setHeader("X-Accel-Redirect", off.accelRedirect);
    res.status(200);
  }
  // Ended by sendDownload once the download is recorded.
  return { range, offloaded: true };
}

/**
 * Every file as one zip: stored, not compressed (fast; most transfers are already compressed
 * formats), zip64 when an entry or the archive passes 4 GiB (yazl decides), each file opened only
 * when its turn comes, so memory stays flat whatever the count or size. With every size known up
 * front yazl computes the final length, so the client gets a Content-Length and a real progress bar.
 */
async function sendArchive(
  req: Request,
  res: Response,
  store: BlobStore,
  d: ArchiveDownload,
  begin: (range: undefined) => Promise<void>,
): Promise<{ range: undefined } | undefined> {
  await begin(undefined);
  const zip = new yazl.ZipFile();
  const zipOutput = zip.outputStream as NodeJS.ReadableStream & { destroy(e: Error): void };
  const add = (files: Iterable<ArchiveFile>) => {
    for (const f of files) {
      zip.addReadStreamLazy(f.name, { size: f.size, compress: false, mtime: new Date(f.created_at) }, (cb) => {
        const bytes = store.read(f.storage_key);
        // yazl listens to none of its inputs' errors: a file whose bytes went away after the
        // answer began (the package deleted meanwhile) cuts the zip, instead of an unhandled
        // 'error' event ending the process.
        bytes.once("error", (err) => zipOutput.destroy(err));
        cb(null, bytes);
      });
    }
  };
  // The zip64 end record always: yazl's length calculation counts it for a central directory of
  // 64 KiB or more, but writes it only past 4 GiB, so without it the Content-Length of a zip of a
  // thousand files promised 76 bytes more than were sent.
  const end = () => new Promise<number>((resolve) => zip.end({ forceZip64Format: true, comment: "" }, ((n: number) => resolve(n)) as () => void));
  res.status(200);
  attachmentHeaders(res, d.name, "application/zip");
  res.setHeader("Cache-Control", "private, no-store");
  if (Array.isArray(d.files)) {
    add(d.files);
    const finalSize = await end();
    if (finalSize >= 0) res.setHeader("Content-Length", String(finalSize));
  }
  if (req.method === "HEAD") {
    res.end();
    return undefined;
  }
  if (!Array.isArray(d.files)) {
    // Pages of rows are added while the zip already streams; the entries wait their turn lazily.
    const pages = d.files;
    void (async () => {
      for await (const page of pages) add(page);
      await end();
    })().catch((err: unknown) => zipOutput.destroy(err as Error));
  }
  return (await stream(res, zip.outputStream)) ? { range: undefined } : undefined;
}

type ArchiveFile = Extract<ArchiveDownload["files"], unknown[]>[number];
