import { prepareEncrypted } from "../encryption/upload.js";
import { ChecksumError } from "../errors.js";
import { UploadBody, type UploadDigests } from "./body.js";
import { sendMultipart } from "./multipart.js";
import { openSource } from "./source.js";
import type { UploadTransform } from "./transform.js";
import { sendResumable, type ResumableOptions } from "./tus.js";
import type { TransferContext, UploadedFile, UploadOptions, UploadSource } from "./types.js";

/** Where an upload goes and what it may change on the way. */
export interface UploadTarget {
  /** `…/api/v1/packages/{id}` or `…/api/v1/links/{link}`: the transports add `/files` or `/uploads`. */
  base: string;
  /** Removes a stored file whose checksum does not match what was sent. */
  onMismatch: (fileId: string) => Promise<void>;
  /** Applied in order between source and transport (none by default). */
  transforms?: readonly UploadTransform[] | undefined;
}

/** The client settings an upload falls back on. */
export type UploadContext = TransferContext & { resumableThreshold: number; resumable?: ResumableOptions | undefined };

/** The stored file and the digests of what was sent (and of the source, when transformed). */
export interface UploadResult extends UploadDigests {
  file: UploadedFile;
}

/**
 * The one upload path of the SDK: source (a path, a Readable, a Blob or a Buffer) → transforms →
 * hash → transport. A body of at least the threshold that can be read again at any offset goes
 * through tus (`<base>/uploads`), resuming by itself; anything else is one streamed multipart
 * request (`<base>/files`). The SHA-256 of what was sent must match the server's, else the file
 * is removed (`onMismatch`) and a ChecksumError thrown.
 */
export async function upload(target: UploadTarget, source: UploadSource, opts: UploadOptions, ctx: UploadContext): Promise<UploadResult> {
  // End-to-end encryption: the plaintext is hashed first (its sealed entry goes before its
  // bytes), then sent through the encrypting transform under an opaque name.
  const enc = opts.encrypt ? await prepareEncrypted(source, opts.name, opts.contentType, opts.encrypt) : undefined;
  let body: UploadBody;
  try {
    body = enc
      ? new UploadBody({ ...enc.source, name: enc.opaqueName }, [...(target.transforms ?? []), enc.transform])
      : new UploadBody(await openSource(source, opts.name), target.transforms);
  } catch (err) {
    await enc?.cleanup();
    throw err;
  }
  const contentType = enc ? "application/octet-stream" : opts.contentType;
  try {
    const threshold = opts.resumableThreshold ?? ctx.resumableThreshold;
    const file =
      body.seekable && body.size !== undefined && body.size >= threshold
        ? await sendResumable(
            {
              createUrl: `${target.base}/uploads`,
              contentType,
              sealed: enc?.sealed,
              body,
              onProgress: opts.onProgress,
              signal: opts.signal,
              stallTimeoutMs: opts.stallTimeoutMs,
            },
            { ...ctx.resumable, ...opts.resumable },
            ctx,
          )
        : await sendMultipart(`${target.base}/files`, body, { ...opts, contentType }, ctx, enc?.sealed);
    let digests: UploadDigests;
    try {
      digests = await body.digests();
    } catch (err) {
      await target.onMismatch(file.id).catch(() => undefined);
      throw err;
    }
    if (file.sha256 !== digests.sha256) {
      await target.onMismatch(file.id).catch(() => undefined);
      throw new ChecksumError(`upload of ${body.name} was corrupted: server has ${file.sha256}, sent ${digests.sha256}`, digests.sha256, file.sha256);
    }
    if (enc && digests.plaintextSha256 !== enc.meta.sha256) {
      // The file changed between the hash of its sealed entry and its upload.
      await target.onMismatch(file.id).catch(() => undefined);
      throw new ChecksumError(`${enc.meta.name} changed while it was being sent: send it again`, enc.meta.sha256, digests.plaintextSha256 ?? "");
    }
    return { file, ...digests };
  } finally {
    body.dispose();
    await enc?.cleanup();
  }
}
