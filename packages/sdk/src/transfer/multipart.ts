import crypto from "node:crypto";
import type { Readable } from "node:stream";
import * as undici from "undici";
import { apiErrorFrom, safeUrl, SpeedyFilesError, UnexpectedResponseError } from "../errors.js";
import { seconds, Watchdog, wrapTransportError } from "../http.js";
import { headerGetter, jsonAnswer } from "./answer.js";
import type { UploadBody } from "./body.js";
import type { TransferContext, UploadedFile, UploadOptions } from "./types.js";

/** `filename="…"` with `"` and `\` escaped; the server reads parameters as UTF-8. */
function dispositionName(name: string): string {
  if (/[\r\n\0]/.test(name)) throw new SpeedyFilesError(`file name ${JSON.stringify(name)} contains a line break or NUL`);
  return name.replace(/[\\"]/g, (c) => `\\${c}`);
}

/**
 * The multipart transport: one `multipart/form-data` request with undici (`<base>/files`), never
 * buffered whole, backpressure from the socket. The framing is written here because FormData can
 * only stream Blobs, not a Readable of unknown size. Resolves with the server's record of the
 * file; the caller compares checksums.
 */
export async function sendMultipart(
  url: string,
  body: UploadBody,
  opts: Pick<UploadOptions, "contentType" | "onProgress" | "signal" | "stallTimeoutMs">,
  ctx: TransferContext,
  /** The file's sealed entry (an encrypted package): a field before the file part. */
  sealed?: string,
): Promise<UploadedFile> {
  const { name, size } = body;
  const boundary = `----speedyfiles-${crypto.randomBytes(12).toString("hex")}`;
  const contentType = opts.contentType ?? "application/octet-stream";
  const field = sealed === undefined ? "" : `--${boundary}\r\nContent-Disposition: form-data; name="sealed"\r\n\r\n${sealed}\r\n`;
  const head = Buffer.from(
    `${field}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${dispositionName(name)}"\r\nContent-Type: ${contentType}\r\n\r\n`,
    "utf8",
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, "utf8");
  let sent = 0;
  opts.onProgress?.({ bytes: 0, total: size });
  // No deadline for the whole upload (it may take hours); instead it fails when no byte has
  // moved for stallTimeoutMs, waiting for the answer after the last byte included.
  const stallMs = opts.stallTimeoutMs ?? ctx.stallTimeoutMs;
  const stall = new Watchdog(stallMs, opts.signal);

  async function* frame() {
    yield head;
    for await (const chunk of body.range(0, size ?? Number.POSITIVE_INFINITY)) {
      body.sent(chunk, sent);
      sent += chunk.length;
      yield chunk;
      stall.touch();
      opts.onProgress?.({ bytes: sent, total: size });
    }
    yield tail;
  }

  const wire = frame();
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
      // written, which the reused buffers of a file's chunks rely on (chunks.ts).
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
    // (The caller disposes of the source: a Readable never read is destroyed there.)
    void wire.return(undefined).catch(() => undefined);
  }
  const json = jsonAnswer(status, headerGetter(resHeaders), text, "POST", url) as UploadedFile | undefined;
  if (status >= 400) {
    throw apiErrorFrom(status, json, { method: "POST", url, headers: headerGetter(resHeaders) });
  }
  if (typeof json?.sha256 !== "string" || typeof json.id !== "string") {
    throw new UnexpectedResponseError({
      status,
      contentType: headerGetter(resHeaders).get("content-type") ?? "",
      method: "POST",
      url,
      reason: "got JSON that is not a stored file",
    });
  }
  return json;
}
