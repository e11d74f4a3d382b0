import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as undici from "undici";
import { apiErrorFrom, ChecksumError, safeUrl, SpeedyFilesError, UnexpectedResponseError } from "../errors.js";
import { seconds, Watchdog, wrapTransportError } from "../http.js";
import { headerGetter, jsonAnswer } from "./answer.js";
import { READ_CHUNK as CHUNK } from "./chunks.js";
import { decryptBody, type FileDecryption } from "../encryption/decrypt.js";
import { tampered } from "../encryption/seal.js";
import type { DownloadOptions, TransferContext } from "./types.js";

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/**
 * Downloads to a path, resuming from `<path>.part` when one is there (Range + If-Range on the
 * file's ETag), verifying SHA-256 over the whole file before renaming it into place.
 *
 * With `decrypt` (a file of an encrypted package) the ciphertext is decrypted as it arrives into
 * a temporary file next to `dest`, renamed only once the plaintext's size and SHA-256 match the
 * file's sealed entry; on any failure the temporary file is removed and nothing is at `dest`.
 * Such a download starts from zero every time (no resume: no plaintext stays behind).
 */
export async function downloadToPath(url: string, dest: string, opts: DownloadOptions, ctx: TransferContext, decrypt?: FileDecryption): Promise<{ size: number; sha256: string }> {
  const part = decrypt ? decryptingPath(dest) : `${dest}.part`;
  await fsp.mkdir(path.dirname(path.resolve(dest)), { recursive: true });
  const hash = crypto.createHash("sha256");
  let have = 0;
  if (opts.sha256 && !decrypt) {
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
    if (decrypt) return await decryptTo(res, part, dest, decrypt, opts, stall);
    const resumed = res.statusCode === 206;
    let hasher = hash;
    if (!resumed) {
      hasher = crypto.createHash("sha256");
      have = 0;
    }
    const total = resumed ? Number(String(res.headers["content-range"] ?? "").split("/")[1]) || undefined : Number(res.headers["content-length"] ?? NaN) || undefined;
    let got = have;
    // First event says where the transfer starts: 0, or the size of the partial copy it resumes.
    opts.onProgress?.({ bytes: got, total });
    // One pipeline from the socket through the hash to the file: it attaches an error listener to
    // every stage and destroys them all on the first failure or abort. (Writing to a file stream by
    // hand from another stream's callback let a late write hit the destroyed file stream, and that
    // ERR_STREAM_DESTROYED went uncaught.)
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
    if (decrypt) await fsp.rm(part, { force: true });
    if (err instanceof SpeedyFilesError) throw err;
    throw wrapTransportError(err, what, opts.signal, where);
  } finally {
    stall.stop();
  }
}

/**
 * Where the plaintext of `dest` is written until it is checked: next to it (so the rename stays
 * on one file system), hidden, and as short whatever the target's name (a name of 255 bytes must
 * still get one). The same target always gets the same one: a run killed before it could clean
 * up leaves a file the next run replaces, not one more.
 */
export function decryptingPath(dest: string): string {
  const tag = crypto.createHash("sha256").update(path.basename(dest)).digest("hex").slice(0, 16);
  return path.join(path.dirname(dest), `.sf-${tag}.decrypting`);
}

/**
 * The decrypting half of downloadToPath: ciphertext from `res` → age STREAM decryption → hash →
 * `part` (created new, 0600, after removing what a killed run left there), renamed to `dest`
 * when size and SHA-256 are the sealed entry's.
 * Failures of the body (network, stall) are thrown as they are; anything the decryption or the
 * checks reject is DecryptionError `tampered`.
 */
async function decryptTo(
  res: undici.Dispatcher.ResponseData,
  part: string,
  dest: string,
  d: FileDecryption,
  opts: DownloadOptions,
  stall: Watchdog,
): Promise<{ size: number; sha256: string }> {
  let bodyError: unknown;
  res.body.on("error", (e) => {
    bodyError ??= e;
  });
  const total = d.meta.size;
  let got = 0;
  const hasher = crypto.createHash("sha256");
  opts.onProgress?.({ bytes: 0, total });
  await fsp.rm(part, { force: true });
  const plain = await decryptBody(d, res.body);
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      stall.touch();
      hasher.update(chunk);
      got += chunk.length;
      if (got > total) {
        cb(tampered(`${d.meta.name} (stored as ${d.stored}) is longer than its description says, so it`, d.meta.name));
        return;
      }
      opts.onProgress?.({ bytes: got, total });
      cb(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(plain as import("node:stream/web").ReadableStream<Uint8Array>),
      meter,
      fs.createWriteStream(part, { flags: "wx", mode: 0o600, highWaterMark: CHUNK }),
      {
        signal: stall.signal,
      },
    );
  } catch (err) {
    if (err instanceof SpeedyFilesError) throw err;
    if (stall.signal.aborted) throw bodyError ?? err;
    // A decryption failure tears the pipeline down, which destroys the body with an AbortError
    // (ABORT_ERR) after the fact: that is the consequence, not the cause. Another body error (a
    // reset connection) is the network's.
    if (bodyError !== undefined && (bodyError as { code?: string }).code !== "ABORT_ERR") throw bodyError;
    throw tampered(`${d.meta.name} (stored as ${d.stored})`, d.meta.name, err);
  }
  const actual = hasher.digest("hex");
  if (got !== total || actual !== d.meta.sha256) throw tampered(`${d.meta.name} (stored as ${d.stored})`, d.meta.name);
  await fsp.rename(part, dest);
  return { size: got, sha256: actual };
}
