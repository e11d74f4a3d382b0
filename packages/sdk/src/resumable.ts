import crypto from "node:crypto";
import fsp from "node:fs/promises";
import { Readable } from "node:stream";
import * as undici from "undici";
import { AbortError, apiErrorFrom, ApiError, ChecksumError, safeUrl, SpeedyFilesError, UnexpectedResponseError } from "./errors.js";
import { seconds, Watchdog, wrapTransportError } from "./http.js";
import { retryDelay, sleep } from "./retry.js";
import { bufferRange, fileRange } from "./body.js";
import path from "node:path";
import { headerGetter, uploadStream, type Progress, type TransferContext, type UploadedFile, type UploadOptions, type UploadSource } from "./transfer.js";

/**
 * Resumable uploads over tus 1.0 (the server's `POST …/uploads`, then `HEAD` / `PATCH` on the
 * upload's URL), for large files. A small client of our own rather than tus-js-client: it runs on
 * the SDK's undici transport (dispatcher, proxy, stall watchdog, typed errors), reads a path or a
 * Buffer/Blob at any offset, and its retries are the SDK's (bounded, jittered backoff).
 *
 * After a network error, a 5xx, a 423 (another request still holds the upload) or a server
 * restart, it asks the server where the upload stands (`HEAD`) and goes on from there, by itself:
 * up to `maxRetries` failures in a row without progress, then a ResumableUploadError that carries
 * the upload's URL (give it back as `uploadUrl` to resume later, from another process too).
 */

export const DEFAULT_RESUMABLE_THRESHOLD = 64 * 1024 * 1024;
/**
 * Bytes per PATCH by default: no limit, the rest of the file in one request (as tus-js-client).
 * The server keeps what arrived of a cut request, so smaller requests resume no better; each
 * request boundary empties the pipeline between client and server (about 20 ms a boundary here,
 * a sixth of the time of a 1 GiB upload in 64 MiB requests). Set `chunkSize` for a proxy that
 * caps request bodies.
 */
export const DEFAULT_CHUNK_SIZE = Number.POSITIVE_INFINITY;

export interface ResumableOptions {
  /** The most bytes one PATCH carries (default: no limit, the rest of the file). */
  chunkSize?: number;
  /** Failures in a row without progress before giving up (default 10). */
  maxRetries?: number;
  /** First wait between retries in ms (default 500; doubles, capped at 10 s, jittered). */
  retryDelayMs?: number;
  /** An upload started earlier (its URL): resumed instead of created. */
  uploadUrl?: string;
  /** Called once the upload's URL is known (to save it, and resume after the process dies). */
  onUploadUrl?: (url: string) => void;
}

/** A resumable upload gave up; `uploadUrl` resumes it (`{ resumable: { uploadUrl } }`). */
export class ResumableUploadError extends SpeedyFilesError {
  constructor(
    message: string,
    readonly uploadUrl: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Bytes that can be read at any offset, again: what a resumable upload needs. */
export type SeekableSource = { kind: "path"; path: string; size: number } | { kind: "buffer"; buf: Buffer } | { kind: "blob"; blob: Blob };

export function sizeOf(src: SeekableSource): number {
  return src.kind === "path" ? src.size : src.kind === "buffer" ? src.buf.length : src.blob.size;
}

function readRange(src: SeekableSource, start: number, end: number): AsyncIterable<Buffer> {
  if (src.kind === "path") return fileRange(src.path, start, end);
  if (src.kind === "buffer") return bufferRange(src.buf, start, end);
  return Readable.fromWeb(src.blob.slice(start, end).stream() as import("node:stream/web").ReadableStream);
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

interface Answer {
  status: number;
  headers: { get(name: string): string | null };
  text: string;
}

export interface ResumableUpload {
  /** `…/api/v1/packages/{id}/uploads` or `…/api/v1/links/{link}/uploads`. */
  createUrl: string;
  name: string;
  contentType?: string | undefined;
  source: SeekableSource;
  onProgress?: ((p: Progress & { resumedFrom?: number }) => void) | undefined;
  signal?: AbortSignal | undefined;
  stallTimeoutMs?: number | undefined;
  /** Removes the file after a checksum mismatch. */
  onMismatch?: ((fileId: string) => Promise<void>) | undefined;
}

/** Sends one file through tus, resuming by itself; resolves with the file as the package holds it. */
export async function uploadResumable(u: ResumableUpload, opts: ResumableOptions, ctx: TransferContext): Promise<UploadedFile> {
  const size = sizeOf(u.source);
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const maxRetries = opts.maxRetries ?? 10;
  const backoff = { retries: maxRetries, baseDelayMs: opts.retryDelayMs ?? 500, maxDelayMs: 10_000 };
  const stallMs = u.stallTimeoutMs ?? ctx.stallTimeoutMs;
  const what = `upload of ${u.name}`;
  const baseHeaders: Record<string, string> = { "tus-resumable": "1.0.0", "user-agent": ctx.userAgent };
  if (ctx.token) baseHeaders.authorization = `Bearer ${ctx.token}`;

  /** One request under the stall watchdog; transport failures become the SDK's errors. */
  const send = async (method: string, url: string, headers: Record<string, string>, body?: AsyncIterable<Buffer>, onChunk?: (c: Buffer) => void): Promise<Answer> => {
    const stall = new Watchdog(stallMs, u.signal);
    const where = { method, url, timeout: { watchdog: stall, kind: "stall" as const, message: `${what} to ${safeUrl(url)} stalled: no progress for ${seconds(stallMs)}` } };
    // Handed to undici as an async iterable, not a Readable: it asks for a chunk only once the
    // last one is written (what fileRange's reused buffers rely on).
    const wire = body
      ? (async function* () {
          for await (const chunk of body) {
            stall.touch();
            onChunk?.(chunk);
            yield chunk;
          }
        })()
      : undefined;
    try {
      const res = await undici.request(url, {
        method: method as "PATCH",
        headers: { ...baseHeaders, ...headers },
        // (An AsyncIterable is a documented body type; undici's .d.ts only lists Readable.)
        ...(wire ? { body: wire as unknown as Readable } : {}),
        signal: stall.signal,
        headersTimeout: 0,
        bodyTimeout: 0,
        ...(ctx.dispatcher ? { dispatcher: ctx.dispatcher } : {}),
      });
      stall.touch();
      const text = method === "HEAD" ? "" : await res.body.text();
      return { status: res.statusCode, headers: headerGetter(res.headers), text };
    } catch (err) {
      throw wrapTransportError(err, what, u.signal, where);
    } finally {
      stall.stop();
      // Closes the file, also when the server answered before reading the whole body (not
      // awaited: a read in flight finishes first).
      void wire?.return(undefined).catch(() => undefined);
    }
  };

  const fail = (a: Answer, method: string, url: string): ApiError => {
    let json: unknown;
    try {
      json = a.text ? JSON.parse(a.text) : undefined;
    } catch {
      json = undefined;
    }
    return apiErrorFrom(a.status, json, { method, url, headers: a.headers });
  };
  /** Worth another try: the network, the server restarting or overloaded, the upload still locked. */
  const transient = (err: unknown) =>
    !(err instanceof AbortError) && !(err instanceof ResumableUploadError) && (!(err instanceof ApiError) || err.status >= 500 || err.status === 423 || err.status === 409 || err.status === 429);

  let failures = 0;
  let uploadUrl = opts.uploadUrl;
  /** Keeps retrying `fn` while failures are transient, up to maxRetries in a row. */
  const retrying = async <T>(fn: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (!transient(err) || failures >= maxRetries) {
          if (err instanceof AbortError || err instanceof ResumableUploadError) throw err;
          throw new ResumableUploadError(`${what} failed${uploadUrl ? ` (resume it from ${uploadUrl})` : ""}: ${(err as Error).message}`, uploadUrl, { cause: err });
        }
        await sleep(retryDelay(failures, backoff, err instanceof ApiError ? undefined : null), u.signal).catch((e: unknown) => {
          throw new AbortError(`${what}: aborted`, { cause: e });
        });
        failures++;
      }
    }
  };

  /** The upload's offset, or undefined when the server no longer has it (404/410). */
  const offsetOf = async (url: string): Promise<number | undefined> => {
    const a = await send("HEAD", url, {});
    if (a.status === 404 || a.status === 410) return undefined;
    if (a.status !== 200) throw fail(a, "HEAD", url);
    const n = Number(a.headers.get("upload-offset"));
    if (!Number.isInteger(n) || n < 0 || n > size) throw new UnexpectedResponseError({ status: a.status, contentType: "", method: "HEAD", url, reason: "no valid Upload-Offset" });
    return n;
  };

  let offset = 0;
  let resumedFrom: number | undefined;
  if (uploadUrl) {
    const known = await retrying(() => offsetOf(uploadUrl!));
    if (known === undefined) uploadUrl = undefined;
    else offset = resumedFrom = known;
  }
  if (!uploadUrl) {
    const meta = [`filename ${b64(u.name)}`, ...(u.contentType ? [`content_type ${b64(u.contentType)}`] : [])].join(",");
    const a = await retrying(async () => {
      const r = await send("POST", u.createUrl, { "upload-length": String(size), "upload-metadata": meta });
      if (r.status !== 201) throw fail(r, "POST", u.createUrl);
      return r;
    });
    const location = a.headers.get("location");
    if (!location) throw new UnexpectedResponseError({ status: a.status, contentType: "", method: "POST", url: u.createUrl, reason: "no Location" });
    uploadUrl = new URL(location, u.createUrl).toString();
    offset = 0;
  }
  opts.onUploadUrl?.(uploadUrl);

  // Progress never goes back, and bytes sent again after a failure are not counted twice.
  let shown = offset;
  u.onProgress?.({ bytes: offset, total: size, ...(resumedFrom !== undefined ? { resumedFrom } : {}) });
  const show = (n: number) => {
    if (n > shown) {
      shown = n;
      u.onProgress?.({ bytes: n, total: size });
    }
  };

  // The SHA-256 of the local bytes, in order, to compare with the server's at the end: computed
  // on the way out, each byte once (bytes sent again after a failure are already in it); a
  // resumed upload first reads the prefix the server already has.
  const hash = crypto.createHash("sha256");
  let hashed = 0;
  const hashTo = async (end: number) => {
    if (end <= hashed) return;
    for await (const c of readRange(u.source, hashed, end)) hash.update(c);
    hashed = end;
  };
  await hashTo(offset);

  const url = uploadUrl;
  let file: UploadedFile | undefined;
  // After a failure the offset is unknown (part of a cut PATCH may have been stored): the server
  // is asked (HEAD) before any byte is sent again, so no PATCH starts at a stale offset.
  let stale = false;
  while (!file) {
    file = await retrying(async () => {
      if (stale) {
        const known = await offsetOf(url);
        if (known === undefined) throw new ResumableUploadError(`${what}: the server no longer has this upload (expired or cancelled)`, url);
        if (known > offset) failures = 0;
        offset = known;
        stale = false;
      }
      try {
        const end = Math.min(size, offset + chunkSize);
        const start = offset;
        let pos = start;
        const onChunk = (c: Buffer) => {
          if (pos === hashed) {
            hash.update(c);
            hashed += c.length;
          }
          pos += c.length;
          show(pos);
        };
        const headers = { "upload-offset": String(start), "content-type": "application/offset+octet-stream", "content-length": String(end - start) };
        const a = await send("PATCH", url, headers, readRange(u.source, start, end), onChunk);
        if (a.status === 200) {
          const f = JSON.parse(a.text) as UploadedFile;
          offset = size;
          return f;
        }
        if (a.status === 413 && !a.text.includes('"code"')) {
          // Not our server's JSON: a proxy in between refused a body this large.
          throw new ResumableUploadError(
            `${what}: a proxy between here and the server refused a request of ${end - start} bytes (413); send smaller requests with { resumable: { chunkSize } } (SF_CHUNK_MIB for sf), then resume from ${url}`,
            url,
          );
        }
        if (a.status !== 204) throw fail(a, "PATCH", url);
        const next = Number(a.headers.get("upload-offset"));
        if (next > offset) failures = 0;
        offset = next;
        show(offset);
        return undefined;
      } catch (err) {
        if (transient(err)) stale = true;
        throw err;
      }
    });
  }
  show(size);
  await hashTo(size);
  const local = hash.digest("hex");
  if (file.sha256 !== local) {
    await u.onMismatch?.(file.id).catch(() => undefined);
    throw new ChecksumError(`upload of ${u.name} was corrupted: server has ${file.sha256}, sent ${local}`, local, file.sha256);
  }
  return file;
}

/** A source that can be read at any offset, with its size; undefined for a stream. */
export async function seekable(source: string | Readable | Blob | Buffer | Uint8Array): Promise<SeekableSource | undefined> {
  if (typeof source === "string") {
    const st = await fsp.stat(source).catch(() => undefined);
    return st?.isFile() ? { kind: "path", path: source, size: st.size } : undefined;
  }
  if (source instanceof Readable) return undefined;
  if (typeof Blob !== "undefined" && source instanceof Blob) return { kind: "blob", blob: source };
  const u8 = source as Uint8Array;
  return { kind: "buffer", buf: Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength) };
}

/**
 * The one upload entry of the SDK: a file of at least the threshold that can be read again at
 * any offset goes through tus (`<base>/uploads`), resuming by itself; anything else is one
 * streamed multipart request (`<base>/files`). `base` is `…/packages/{id}` or `…/links/{link}`.
 */
export async function uploadAuto(
  base: string,
  source: UploadSource,
  opts: UploadOptions,
  ctx: TransferContext & { resumableThreshold: number; resumable?: ResumableOptions | undefined },
  onMismatch: (fileId: string) => Promise<void>,
): Promise<UploadedFile> {
  const threshold = opts.resumableThreshold ?? ctx.resumableThreshold;
  const seek = await seekable(source);
  if (seek && sizeOf(seek) >= threshold) {
    const name = opts.name ?? (seek.kind === "path" ? path.basename(seek.path) : undefined);
    if (!name) throw new SpeedyFilesError("uploadFile needs { name } when the source is not a file path");
    return uploadResumable(
      {
        createUrl: `${base}/uploads`,
        name,
        contentType: opts.contentType,
        source: seek,
        onProgress: opts.onProgress,
        signal: opts.signal,
        stallTimeoutMs: opts.stallTimeoutMs,
        onMismatch,
      },
      { ...ctx.resumable, ...opts.resumable },
      ctx,
    );
  }
  return uploadStream(`${base}/files`, source, opts, ctx, onMismatch, seek?.kind === "path" ? seek.size : undefined);
}

/** The offset of a resumable upload (its bytes on the server), or undefined when it is gone. */
export async function uploadOffset(url: string, ctx: TransferContext): Promise<number | undefined> {
  const headers: Record<string, string> = { "tus-resumable": "1.0.0", "user-agent": ctx.userAgent };
  if (ctx.token) headers.authorization = `Bearer ${ctx.token}`;
  const res = await undici.request(url, { method: "HEAD", headers, ...(ctx.dispatcher ? { dispatcher: ctx.dispatcher } : {}) });
  await res.body.dump();
  if (res.statusCode !== 200) return undefined;
  const n = Number(res.headers["upload-offset"]);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}
