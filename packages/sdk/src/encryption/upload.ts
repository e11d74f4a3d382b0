import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SpeedyFilesError } from "../errors.js";
import { checkFileName, quotedName } from "../file-names.js";
import { openSource, type Source } from "../transfer/source.js";
import type { UploadSource } from "../transfer/types.js";
import type { EncryptionKey } from "./keys.js";
import { sealEntry, type PlainFileMeta } from "./seal.js";
import { AgeEncryptTransform } from "./stream.js";

/** A file made ready for an encrypted upload. */
export interface EncryptedSource {
  /** The plaintext, readable again from any offset (what the transform re-runs over). */
  source: Source;
  /** The name the server sees: `<32 random hex>.age`. */
  opaqueName: string;
  /** The plaintext name, size, content type and SHA-256. */
  meta: PlainFileMeta;
  /** The sealed entry (base64 age file of `meta`), sent with the file. */
  sealed: string;
  transform: AgeEncryptTransform;
  /** Removes the spooled copy of a Readable, if one was made. */
  cleanup(): Promise<void>;
}

/**
 * Reads the plaintext once for its SHA-256 (the sealed entry goes before the file's bytes), then
 * readies the transform. A Readable can be read only once: it is first copied to a temporary file
 * (0600, removed by `cleanup`), so that the hash and the upload (and a resumable upload's re-runs)
 * read the same bytes.
 */
export async function prepareEncrypted(input: UploadSource, name: string | undefined, contentType: string | undefined, key: EncryptionKey): Promise<EncryptedSource> {
  let spool: string | undefined;
  let src = await openSource(input, name);
  // The server sees only the opaque name, so its name rules are applied here (and again by
  // every recipient's openView): a name it would refuse in the clear is refused encrypted too.
  const check = checkFileName(src.name);
  if (!check.ok) throw new SpeedyFilesError(`a file named ${quotedName(src.name)} cannot be sent: ${check.reason}`);
  src = { ...src, name: check.name };
  const cleanup = async () => {
    if (spool) await fsp.rm(path.dirname(spool), { recursive: true, force: true });
  };
  try {
    if (!src.range) {
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "sf-encrypt-"));
      spool = path.join(dir, "plain");
      await pipeline(src.stream as Readable, fs.createWriteStream(spool, { mode: 0o600 }));
      src = { ...(await openSource(spool, src.name)), name: src.name };
    }
    const hash = crypto.createHash("sha256");
    let size = 0;
    for await (const c of src.range!(0, src.size!)) {
      hash.update(c);
      size += c.length;
    }
    const meta: PlainFileMeta = { name: src.name, size, content_type: contentType ?? "application/octet-stream", sha256: hash.digest("hex") };
    const [sealed, transform] = await Promise.all([sealEntry(key, meta), AgeEncryptTransform.create(key)]);
    return { source: { ...src, size }, opaqueName: `${crypto.randomBytes(16).toString("hex")}.age`, meta, sealed, transform, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
