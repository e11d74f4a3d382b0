import type { Request } from "express";
import busboy from "busboy";
import { ApiError, ValidationFailed } from "../errors.js";
import type { BlobStore } from "../storage/blob-store.js";
import { checkFileName, normaliseContentType } from "../services/file-names.js";
import type { ReceivedFile } from "../services/files.js";
import { checkSealed, MAX_SEALED_CHARS } from "../services/encryption.js";
import crypto from "node:crypto";
import type { Readable } from "node:stream";
import type { TransferMeter } from "../metrics/registry.js";

/** The client went away before the body was complete; nobody will read the answer. */
export class ClientAborted extends ApiError {
  constructor() {
    super(400, "upload_interrupted", "The upload was interrupted");
  }
}

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/** How much of a refused upload is read and thrown away so the client can read our answer. */
const DISCARD_CAP = 64 * 1024 * 1024;

/**
 * After refusing an upload, reads and discards what the client is still sending (up to 64 MiB,
 * then the connection is cut). Closing at once instead makes the client's next write fail with
 * EPIPE/ECONNRESET, and it often never sees the 413 that explains why.
 */
export function discardBody(req: Request): void {
  if (req.complete || req.destroyed) return;
  req.unpipe();
  let seen = 0;
  req.on("data", (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DISCARD_CAP) req.socket?.destroy();
  });
  req.resume();
  lingerUntilBodyEnds(req);
}

/**
 * A client that sent `Connection: close` gets its answer and then the connection closes: Node
 * destroys the socket (`destroySoon`) once the answer is written, while the client may still be
 * sending the body we refused; its next write then fails with EPIPE or ECONNRESET, often before it
 * has read the answer. Here the socket only half-closes (we send nothing more) and is destroyed
 * once the body has arrived, as nginx's lingering close does. The cap above, and the server's idle
 * timeout for a client that stops sending, still end it.
 */
function lingerUntilBodyEnds(req: Request): void {
  const socket = req.socket as (Request["socket"] & { destroySoon?: () => void }) | undefined;
  if (!socket || typeof socket.destroySoon !== "function") return;
  socket.destroySoon = function lingeringDestroySoon(this: typeof socket) {
    if (this.writable) this.end();
    const destroy = () => this.destroy();
    if (req.complete) {
      if (this.writableFinished) destroy();
      else this.once("finish", destroy);
    } else {
      req.once("end", destroy);
    }
  };
}

/**
 * Streams the one `file` part of a multipart request into the blob store while hashing it:
 * request → busboy → SHA-256 → storage, with backpressure all the way, never buffered whole.
 * An optional `sha256` field before the file is checked against the bytes received. A file of an
 * encrypted package needs its `sealed` field before the file part (422 `sealed_required` before a
 * byte is stored), and any other refuses one.
 *
 * Any failure — over `maxBytes` (`tooLarge`: 413, or 422 for the policy or the quota), a bad name, a checksum mismatch, a malformed body, the client
 * disconnecting, the storage running out of space (InsufficientStorage, 507) — rejects after the
 * partial blob has been removed: nothing is left behind.
 */
export function receiveFile(
  req: Request,
  store: BlobStore,
  opts: { maxBytes: number; tooLarge(): ApiError; encrypted: boolean; meter: Pick<TransferMeter, "uploaded"> },
): Promise<ReceivedFile> {
  return new Promise<ReceivedFile>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        // keep `sub/dir/a.txt`; checkFileName decides whether a path is acceptable
        preservePath: true,
        // curl, browsers and our SDK send UTF-8 file names; busboy would read them as latin1
        defParamCharset: "utf8",
        // busboy reports `limit` once a file *reaches* fileSize, so a file of exactly maxBytes
        // would be refused: allow one byte more, and only that extra byte trips the limit.
        limits: { fileSize: opts.maxBytes + 1, files: 1, fields: 4, parts: 5, fieldSize: MAX_SEALED_CHARS + 1, fieldNameSize: 100, headerPairs: 20 },
      });
    } catch {
      reject(new ApiError(415, "unsupported_media_type", "Expected a multipart/form-data body with a `file` part"));
      return;
    }

    let expectedSha: string | undefined;
    let sealed: string | undefined;
    let sawFile = false;
    let failure: Error | undefined;
    let part: Readable | undefined;
    let put: Promise<ReceivedFile> | undefined;
    let settled = false;

    const fail = (err: Error) => {
      failure ??= err;
      part?.destroy(failure);
      void finish();
    };

    const finish = async () => {
      if (settled) return;
      settled = true;
      req.unpipe(bb);
      let result: ReceivedFile | undefined;
      if (put) {
        try {
          result = await put;
        } catch (err) {
          failure ??= err as Error;
        }
      }
      if (!failure && !result) failure = new ValidationFailed("The request has no `file` part", "/body/file");
      if (!failure && result && expectedSha !== undefined && expectedSha !== result.sha256) {
        failure = new ValidationFailed(`SHA-256 mismatch: the bytes received hash to ${result.sha256}`, "/body/sha256", "checksum_mismatch");
      }
      if (failure) {
        if (result) await store.delete(result.key).catch(() => undefined);
        // Whatever is still arriving is read and discarded, so the answer can reach the client.
        discardBody(req);
        reject(failure);
      } else {
        resolve(result!);
      }
    };

    bb.on("field", (name, value, info) => {
      if (name === "sealed") {
        if (sawFile) return fail(new ValidationFailed("The sealed field must come before the file part", "/body/sealed"));
        // Over fieldSize busboy cuts the value: longer than any sealed entry may be.
        if (info.valueTruncated) return fail(new ValidationFailed(`sealed must be at most ${MAX_SEALED_CHARS} characters`, "/body/sealed"));
        sealed = value;
        return;
      }
      if (name !== "sha256") return;
      if (sawFile) return fail(new ValidationFailed("The sha256 field must come before the file part", "/body/sha256"));
      if (!SHA256_HEX.test(value)) return fail(new ValidationFailed("sha256 must be 64 hexadecimal characters", "/body/sha256"));
      expectedSha = value.toLowerCase();
    });

    bb.on("file", (field, stream, info) => {
      // Already failed (e.g. a bad sha256 field before the file): busboy may still parse parts
      // from data it had buffered; never start storing one nobody will clean up.
      if (failure || settled) {
        stream.resume();
        return;
      }
      if (field !== "file" || sawFile) {
        stream.resume();
        return fail(new ValidationFailed(`Unexpected file field "${field}"; send one file in the field "file"`, `/body/${field}`));
      }
      sawFile = true;
      const checked = checkFileName(info.filename);
      if (!checked.ok) {
        stream.resume();
        return fail(new ValidationFailed(checked.reason, "/body/file", "file_name_invalid"));
      }
      let sealedEntry: string | null;
      try {
        sealedEntry = checkSealed(sealed, opts.encrypted, "/body/sealed");
      } catch (err) {
        stream.resume();
        return fail(err as Error);
      }
      // SHA-256 on the way, as the bytes go to storage (~1 CPU-s per GiB on this thread).
      const sha = crypto.createHash("sha256");
      stream.on("data", (chunk: Buffer) => {
        sha.update(chunk);
        opts.meter.uploaded(chunk.length);
      });
      part = stream;
      stream.on("limit", () => fail(opts.tooLarge()));
      // busboy destroys the part's stream with its own parse error (e.g. a truncated body)
      // before it emits that error itself: it is the client's malformed body, not a server fault.
      stream.on("error", (err: NodeJS.ErrnoException) => {
        // The store's pipeline destroys the part with its own error when writing fails (a full
        // disk): that is the store's failure, and `put` rejects with it (507), not a bad body.
        if (err.code) return;
        fail(new ValidationFailed(`Malformed multipart body: ${err.message}`, "/body"));
      });
      put = store.put(stream).then((blob) => ({
        name: checked.name,
        contentType: normaliseContentType(info.mimeType),
        key: blob.key,
        size: blob.size,
        sha256: sha.digest("hex"),
        sealed: sealedEntry,
      }));
      // A storage failure (a full disk: InsufficientStorage) ends the request at once. Waiting for
      // busboy instead would wait forever: the failed write stream no longer drains the part, so
      // busboy stays paused, the request body stops, and the client hangs until the idle timeout.
      put.catch((err: Error) => fail(err));
    });

    const tooMany = () => fail(new ValidationFailed("Send exactly one file per request, in the field `file`", "/body"));
    bb.on("filesLimit", tooMany);
    bb.on("partsLimit", tooMany);
    bb.on("fieldsLimit", tooMany);
    bb.on("error", (err: Error) => fail(new ValidationFailed(`Malformed multipart body: ${err.message}`, "/body")));
    bb.on("close", () => void finish());

    req.on("close", () => {
      if (!req.complete) fail(new ClientAborted());
    });
    req.on("error", () => fail(new ClientAborted()));
    req.pipe(bb);
  });
}
