import type { Readable } from "node:stream";
import * as undici from "undici";
import { AbortError, apiErrorFrom, ApiError, NetworkError, safeUrl, SpeedyFilesError, UnexpectedResponseError } from "../errors.js";
import { seconds, Watchdog, wrapTransportError } from "../http.js";
import { retryDelay, sleep } from "../retry.js";
import { headerGetter } from "./answer.js";
import type { UploadBody } from "./body.js";
import type { Progress, TransferContext, UploadedFile } from "./types.js";

/**
 * The resumable transport: tus 1.0 (the server's `POST …/uploads`, then `HEAD` / `PATCH` on the
 * upload's URL), for large files. A small client of our own rather than tus-js-client: it runs on
 * the SDK's undici transport (dispatcher, proxy, stall watchdog, typed errors), reads the body at
 * any offset, and its retries are the SDK's (bounded, jittered backoff).
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

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

interface Answer {
  status: number;
  headers: { get(name: string): string | null };
  text: string;
}

export interface TusUpload {
  /** `…/api/v1/packages/{id}/uploads` or `…/api/v1/links/{link}/uploads`. */
  createUrl: string;
  contentType?: string | undefined;
  /** The file's sealed entry (an encrypted package), sent in Upload-Metadata. */
  sealed?: string | undefined;
  /** A body of known size that can be read at any offset. */
  body: UploadBody;
  onProgress?: ((p: Progress) => void) | undefined;
  signal?: AbortSignal | undefined;
  stallTimeoutMs?: number | undefined;
}

/** Sends one file through tus, resuming by itself; resolves with the server's record of the file. */
export async function sendResumable(u: TusUpload, opts: ResumableOptions, ctx: TransferContext): Promise<UploadedFile> {
  const { body } = u;
  const size = body.size!;
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const maxRetries = opts.maxRetries ?? 10;
  const backoff = { retries: maxRetries, baseDelayMs: opts.retryDelayMs ?? 500, maxDelayMs: 10_000 };
  const stallMs = u.stallTimeoutMs ?? ctx.stallTimeoutMs;
  const what = `upload of ${body.name}`;
  const baseHeaders: Record<string, string> = { "tus-resumable": "1.0.0", "user-agent": ctx.userAgent };
  if (ctx.token) baseHeaders.authorization = `Bearer ${ctx.token}`;

  /** One request under the stall watchdog; transport failures become the SDK's errors. */
  const send = async (method: string, url: string, headers: Record<string, string>, chunks?: AsyncIterable<Buffer>, onChunk?: (c: Buffer) => void): Promise<Answer> => {
    const stall = new Watchdog(stallMs, u.signal);
    const where = { method, url, timeout: { watchdog: stall, kind: "stall" as const, message: `${what} to ${safeUrl(url)} stalled: no progress for ${seconds(stallMs)}` } };
    // Handed to undici as an async iterable, not a Readable: it asks for a chunk only once the
    // last one is written (what the reused buffers of chunks.ts rely on).
    const wire = chunks
      ? (async function* () {
          for await (const chunk of chunks) {
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
  /**
   * Worth another try: the network, the server restarting or overloaded, the upload still locked.
   * Not what the body itself failed with (a file that got shorter, a transform that broke its
   * word): undici reports that as a request error, but sending again would fail the same way.
   */
  const transient = (err: unknown) =>
    !(err instanceof AbortError) &&
    !(err instanceof ResumableUploadError) &&
    !(err instanceof NetworkError && err.cause instanceof SpeedyFilesError) &&
    (!(err instanceof ApiError) || err.status >= 500 || err.status === 423 || err.status === 409 || err.status === 429);

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
    const meta = [`filename ${b64(body.name)}`, ...(u.contentType ? [`content_type ${b64(u.contentType)}`] : []), ...(u.sealed ? [`sealed ${b64(u.sealed)}`] : [])].join(",");
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

  // The checksum covers the bytes in order, each once (the body's hash ignores bytes sent again
  // after a failure); a resumed upload first reads the prefix the server already has.
  await body.hashTo(offset);

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
          body.sent(c, pos);
          pos += c.length;
          show(pos);
        };
        const headers = { "upload-offset": String(start), "content-type": "application/offset+octet-stream", "content-length": String(end - start) };
        const a = await send("PATCH", url, headers, body.range(start, end), onChunk);
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
  return file;
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
