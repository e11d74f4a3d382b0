import type { Readable } from "node:stream";
import type * as age from "age-encryption";
import { DecryptionError } from "../errors.js";
import { AgeHeaderGuard, NotAgeFileError } from "./header.js";
import { tampered, type Encryption, type PlainFileMeta } from "./seal.js";

/** What a download needs to decrypt one file: the package's Decrypter and the file's opened entry. */
export interface FileDecryption {
  decrypter: age.Decrypter;
  encryption: Encryption;
  /** The plaintext name, size and SHA-256 the result must have. */
  meta: PlainFileMeta;
  /** The server's (opaque) name, for messages. */
  stored: string;
}

/**
 * The plaintext of an age file read from `body`, as a web stream (age-encryption's STREAM
 * decryption, chunk by chunk). The body is pulled only as the plaintext is read (no read-ahead).
 * Resolves once the header is opened; a header the key does not open is DecryptionError `tampered`.
 */
export async function decryptBody(d: FileDecryption, body: Readable): Promise<ReadableStream<Uint8Array>> {
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // The header is checked as it goes by: age-encryption would gather an endless one in memory.
  const guard = new AgeHeaderGuard();
  const cipher = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const r = await it.next();
        const problem = r.done ? guard.end() : guard.push(r.value);
        if (problem) {
          await it.return?.();
          controller.error(new NotAgeFileError(problem));
        } else if (r.done) controller.close();
        else controller.enqueue(new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength));
      },
      async cancel() {
        await it.return?.();
      },
    },
    { highWaterMark: 0 },
  );
  try {
    return await d.decrypter.decrypt(cipher);
  } catch (err) {
    if (err instanceof NotAgeFileError) {
      throw new DecryptionError("tampered", `${d.meta.name} (stored as ${d.stored}) is not a valid age file (${err.reason}): it cannot be trusted, and nothing was written`, {
        cause: err,
        file: d.meta.name,
      });
    }
    // The key opened the file's entry (openView): when it does not open the file, the file was
    // swapped for one encrypted to another key.
    throw tampered(`${d.meta.name} (stored as ${d.stored})`, d.meta.name, err);
  }
}
