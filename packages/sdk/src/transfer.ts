import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as undici from "undici";
import { apiErrorFrom, ChecksumError, safeUrl, SpeedyFilesError, UnexpectedResponseError } from "./errors.js";
import { seconds, Watchdog, wrapTransportError } from "./http.js";
import type { components } from "./generated/api.js";
import type { ResumableOptions } from "./resumable.js";
import { bufferRange, fileRange, READ_CHUNK as CHUNK } from "./body.js";

export type UploadSource = string | Readable | Blob | Buffer | Uint8Array;

export interface Progress {
  /** Bytes of this file sent or received so far. */
  bytes: number;
  /** Its size, when known. */
  total: number | undefined;
  /** On the first event of a resumed upload: the bytes the server already had. */
  resumedFrom?: number;
}

export interface UploadOptions {
  /** The name in the package; defaults to the file's base name for a path, else required. */
  name?: string;
  contentType?: string;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Fail when no byte moves for this long, in ms (default: the client's `stallTimeoutMs`). */
  stallTimeoutMs?: number;
  /**
   * Files of at least this many bytes (read from a path, a Buffer or a Blob) go through the
   * resumable tus upload; default: the client's `resumableThreshold` (64 MiB). `Infinity`: never.
   */
  resumableThreshold?: number;
  /** Settings of a resumable upload (chunk size, retries, an upload URL to resume). */
  resumable?: ResumableOptions;
}

/** What a transfer needs from the client it runs for. */
export interface TransferContext {
  token?: string | undefined;
  /** The client's stall timeout (ms); the call's own option wins. */
  stallTimeoutMs: number;
  dispatcher?: undici.Dispatcher | undefined;
  userAgent: string;
  /** A password-protected link's password, sent as `X-Link-Password`. */
  linkPassword?: string | undefined;
}


/** An upload's bytes as chunks, with `dispose` to let go of the source early (on a failure). */
interface OpenedSource {
  chunks: AsyncIterable<Buffer>;
  size: number | undefined;
  name: string;
  dispose(): void;
}

async function openSource(source: UploadSource, name: string | undefined, knownSize?: number): Promise<OpenedSource> {
  if (typeof source === "string") {
    let size = knownSize;
    if (size === undefined) {
      const st = await fsp.stat(source).catch((err: NodeJS.ErrnoException) => {
        throw new SpeedyFilesError(`cannot read ${source}: ${err.code ?? err.message}`, { cause: err });
      });
      if (!st.isFile()) throw new SpeedyFilesError(`${source} is not a file`);
      size = st.size;
    }
    // Exactly the size the Content-Length announces, through reused buffers (body.ts).
    const chunks = fileRange(source, 0, size);
    return { chunks, size, name: name ?? path.basename(source), dispose: () => void chunks.return(undefined).catch(() => undefined) };
  }
  if (!name) throw new SpeedyFilesError("uploadFile needs { name } when the source is not a file path");
  const fromStream = (stream: Readable, size: number | undefined): OpenedSource => ({ chunks: stream, size, name, dispose: () => stream.destroy() });
  if (source instanceof Readable) return fromStream(source, undefined);
  if (typeof Blob !== "undefined" && source instanceof Blob) {
    return fromStream(Readable.fromWeb(source.stream() as import("node:stream/web").ReadableStream), source.size);
  }
  const u8 = source as Uint8Array;
  const buf = Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
  // Slices share memory with the caller's buffer: no copy.
  return { chunks: bufferRange(buf, 0, buf.length), size: buf.length, name, dispose: () => undefined };
}

/** `filename="…"` with `"` and `\` escaped; the server reads parameters as UTF-8. */
function dispositionName(name: string): string {
  if (/[\r\n\0]/.test(name)) throw new SpeedyFilesError(`file name ${JSON.stringify(name)} contains a line break or NUL`);
  return name.replace(/[\\"]/g, (c) => `\\${c}`);
}

/** The server's record of a stored file (the spec's `File`). */
export type UploadedFile = components["schemas"]["File"];

/**
 * Streams one file as `multipart/form-data` with undici: never buffered whole, backpressure from
 * the socket, SHA-256 computed on the way and compared with the server's answer. The multipart
 * framing is written here because FormData can only stream Blobs, not a Readable of unknown size.
 */
export async function uploadStream(
  url: string,
  source: UploadSource,
  opts: UploadOptions,
  ctx: TransferContext,
  onMismatch: (fileId: string) => Promise<void>,
  /** The size of a path source when the caller has just read it (saves a second stat). */
  knownSize?: number,
): Promise<UploadedFile> {
  const { chunks, size, name, dispose } = await openSource(source, opts.name, knownSize);
  const boundary = `----speedyfiles-${crypto.randomBytes(12).toString("hex")}`;
  const contentType = opts.contentType ?? "application/octet-stream";
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${dispositionName(name)}"\r\nContent-Type: ${contentType}\r\n\r\n`,
    "utf8",
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, "utf8");
  const hash = crypto.createHash("sha256");
  let sent = 0;
  opts.onProgress?.({ bytes: 0, total: size });
  // No deadline for the whole upload (it may take hours); instead it fails when no byte has
  // moved for stallTimeoutMs, waiting for the answer after the last byte included.
  const stallMs = opts.stallTimeoutMs ?? ctx.stallTimeoutMs;
  const stall = new Watchdog(stallMs, opts.signal);

  async function* body() {
    yield head;
    for await (const chunk of chunks) {
      hash.update(chunk);
      sent += chunk.length;
      yield chunk;
      stall.touch();
      opts.onProgress?.({ bytes: sent, total: size });
    }
    yield tail;
  }

  const wire = body();
  const headers: Record<string, string> = {
    "content-type": `multipart/form-data; boundary=${boundary}`,
    "user-agent": ctx.userAgent,
  };
  if (ctx.token) headers.authorization = `Bearer ${ctx.token}`;
  if (size !== undefined) headers["content-length"] = String(head.length + size + tail.length);

  const what = `upload of ${name}`;
  const where = { method: "POST", url, timeout: { watchdog: stall, kind: "stall" as const, message: `${what} to ${safeUrl(url)} stalled: no progress for ${seconds(stallMs)}` } };
  let status: number;
  let resHeaders: Record<string, string | string[] | undefined>;
  let text: string;
  try {
    const res = await undici.request(url, {
      method: "POST",
      headers,
      // An async iterable, not a Readable: undici asks for a chunk only once the last one is
      // written, which the reused buffers of a file's chunks rely on (body.ts).
      // (Documented as a body type; undici's .d.ts only lists Readable.)
      body: wire as unknown as Readable,
      signal: stall.signal,
      headersTimeout: 0,
      bodyTimeout: 0,
      ...(ctx.dispatcher ? { dispatcher: ctx.dispatcher } : {}),
    });
    stall.touch();
    status = res.statusCode;
    resHeaders = res.headers;
    text = "";
    for await (const c of res.body as AsyncIterable<Buffer>) {
      stall.touch();
      text += c.toString("utf8");
    }
  } catch (err) {
    throw wrapTransportError(err, what, opts.signal, where);
  } finally {
    stall.stop();
    // The body ends and the file is closed even when the server answered before reading the
    // whole body (a 413) and undici stopped asking for chunks.
    void wire.return(undefined).catch(() => undefined);
    dispose();
  }
  const json = jsonAnswer(status, headerGetter(resHeaders), text, "POST", url) as UploadedFile | undefined;
  if (status >= 400) {
    throw apiErrorFrom(status, json, { method: "POST", url, headers: headerGetter(resHeaders) });
  }
  if (typeof json?.sha256 !== "string" || typeof json.id !== "string") {
    throw new UnexpectedResponseError({ status, contentType: headerGetter(resHeaders).get("content-type") ?? "", method: "POST", url, reason: "got JSON that is not a stored file" });
  }
  const uploaded = json;
  const local = hash.digest("hex");
  if (uploaded.sha256 !== local) {
    await onMismatch(uploaded.id).catch(() => undefined);
    throw new ChecksumError(`upload of ${name} was corrupted: server has ${uploaded.sha256}, sent ${local}`, local, uploaded.sha256);
  }
  return uploaded;
}

/** The parsed JSON of an answer; anything else (an HTML page, broken JSON) is an UnexpectedResponseError. */
function jsonAnswer(status: number, headers: { get(name: string): string | null }, text: string, method: string, url: string): unknown {
  const type = headers.get("content-type") ?? "";
  if (text.trim() === "" && status >= 400) return undefined;
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) throw new UnexpectedResponseError({ status, contentType: type, method, url });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UnexpectedResponseError({ status, contentType: type, method, url, reason: `got JSON that does not parse (${(err as Error).message})`, cause: err });
  }
}

export function headerGetter(h: Record<string, string | string[] | undefined>): { get(name: string): string | null } {
  return {
    get(name: string) {
      const v = h[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
    },
  };
}

export interface DownloadOptions {
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Expected SHA-256 (hex); checked when the download completes. */
  sha256?: string;
  /** Fail when no byte arrives for this long, in ms (default: the client's `stallTimeoutMs`). */
  stallTimeoutMs?: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/**
 * Downloads to a path, resuming from `<path>.part` when one is there (Range + If-Range on the
 * file's ETag), verifying SHA-256 over the whole file before renaming it into place.
 */
export async function downloadToPath(url: string, dest: string, opts: DownloadOptions, ctx: TransferContext): Promise<{ size: number; sha256: string }> {
  const part = `${dest}.part`;
  await fsp.mkdir(path.dirname(path.resolve(dest)), { recursive: true });
  const hash = crypto.createHash("sha256");
  let have = 0;
  if (opts.sha256) {
    const st = await fsp.stat(part).catch(() => undefined);
    if (st && st.size > 0) {
      await pipeline(fs.createReadStream(part, { highWaterMark: CHUNK }), new Writable({ write: (c: Buffer, _e, cb) => (hash.update(c), cb()) }));
      have = st.size;
    }
  }
  const headers: Record<string, string> = { "user-agent": ctx.userAgent };
  if (ctx.token) headers.authorization = `Bearer ${ctx.token}`;
  if (ctx.linkPassword !== undefined) headers["x-link-password"] = ctx.linkPassword;
  if (have > 0 && opts.sha256) {
    headers.range = `bytes=${have}-`;
    headers["if-range"] = `"${opts.sha256}"`;
  }
  // Like uploads: no deadline, but no byte for stallTimeoutMs (the headers included) fails it.
  const stallMs = opts.stallTimeoutMs ?? ctx.stallTimeoutMs;
  const stall = new Watchdog(stallMs, opts.signal);
  const what = `download of ${path.basename(dest)}`;
  const where = { method: "GET", url, timeout: { watchdog: stall, kind: "stall" as const, message: `${what} from ${safeUrl(url)} stalled: no progress for ${seconds(stallMs)}` } };

  let res: undici.Dispatcher.ResponseData;
  try {
    // A server whose downloads are offloaded (SF_S3_PRESIGN_DOWNLOADS) answers 302 to a presigned
    // URL of the object store: follow it (a few hops at most). Another origin gets neither our
    // token nor our If-Range (the store has its own ETags; the SHA-256 check of the whole file
    // still guards a resumed copy), only the Range.
    let target = url;
    for (let hop = 0; ; hop++) {
      res = await undici.request(target, {
        method: "GET",
        headers,
        signal: stall.signal,
        headersTimeout: 0,
        bodyTimeout: 0,
        ...(ctx.dispatcher ? { dispatcher: ctx.dispatcher } : {}),
      });
      stall.touch();
      const location = res.headers.location;
      if (!REDIRECTS.has(res.statusCode) || typeof location !== "string" || hop >= MAX_REDIRECTS) break;
      await res.body.dump();
      const next = new URL(location, target);
      if (next.origin !== new URL(target).origin) {
        delete headers.authorization;
        delete headers["if-range"];
      }
      target = next.toString();
    }
  } catch (err) {
    stall.stop();
    throw wrapTransportError(err, what, opts.signal, where);
  }
  try {
    if (res.statusCode === 416 && have > 0) {
      // The partial copy is already complete (or longer than the file): start over.
      await res.body.dump();
      await fsp.rm(part, { force: true });
      stall.stop();
      return downloadToPath(url, dest, opts, ctx);
    }
    if (res.statusCode >= 400) {
      const json = jsonAnswer(res.statusCode, headerGetter(res.headers), await res.body.text(), "GET", url);
      throw apiErrorFrom(res.statusCode, json, { method: "GET", url, headers: headerGetter(res.headers) });
    }
    // Our server sends every file as an attachment; an inline HTML page is someone else's (a
    // portal, a proxy's login page): never save it as the file.
    const type = String(res.headers["content-type"] ?? "");
    if (/^text\/html\b/i.test(type) && !/^\s*attachment/i.test(String(res.headers["content-disposition"] ?? ""))) {
      throw new UnexpectedResponseError({ status: res.statusCode, contentType: type, method: "GET", url });
    }
    const resumed = res.statusCode === 206;
    let hasher = hash;
    if (!resumed) {
      hasher = crypto.createHash("sha256");
      have = 0;
    }
    const total = resumed
      ? Number(String(res.headers["content-range"] ?? "").split("/")[1]) || undefined
      : Number(res.headers["content-length"] ?? NaN) || undefined;
    let got = have;
    // First event says where the transfer starts: 0, or the size of the partial copy it resumes.
    opts.onProgress?.({ bytes: got, total });
    // One pipeline from the socket through the hash to the file: it attaches an error listener to
    // every stage and destroys them all on the first failure or abort. (Writing to a file stream by
    // hand from another stream's callback let a late write hit the destroyed file stream, and that
    // ERR_STREAM_DESTROYED went uncaught and crashed the process on abort.)
    const meter = new Transform({
      highWaterMark: CHUNK,
      transform(chunk: Buffer, _enc, cb) {
        stall.touch();
        hasher.update(chunk);
        got += chunk.length;
        opts.onProgress?.({ bytes: got, total });
        cb(null, chunk);
      },
    });
    await pipeline(res.body, meter, fs.createWriteStream(part, { flags: resumed ? "a" : "w", highWaterMark: CHUNK }), { signal: stall.signal });
    stall.stop();
    const actual = hasher.digest("hex");
    if (opts.sha256 && actual !== opts.sha256) {
      await fsp.rm(part, { force: true });
      throw new ChecksumError(`download of ${path.basename(dest)} is corrupted: expected ${opts.sha256}, got ${actual}`, opts.sha256, actual);
    }
    await fsp.rename(part, dest);
    return { size: got, sha256: actual };
  } catch (err) {
    // Destroying an unread undici body emits an error: listen for it, or it would go uncaught.
    res.body.on("error", () => undefined);
    res.body.destroy();
    if (err instanceof SpeedyFilesError) throw err;
    throw wrapTransportError(err, what, opts.signal, where);
  } finally {
    stall.stop();
  }
}
