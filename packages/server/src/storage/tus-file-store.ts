import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { FileStore } from "@tus/file-store";
import { ERRORS } from "@tus/utils";

const WRITE_HWM = 1024 * 1024;

/**
 * @tus/file-store, writing through a 1 MiB buffer: its own write stream keeps Node's 16 KiB
 * default, which held uploads to about two thirds of the multipart path (LocalBlobStore uses
 * 1 MiB for the same reason).
 */
export class BufferedFileStore extends FileStore {
  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    const out = fs.createWriteStream(path.join(this.directory, id), { flags: "r+", start: offset, highWaterMark: WRITE_HWM });
    let received = 0;
    readable.on("data", (c: Buffer) => {
      received += c.length;
    });
    try {
      await pipeline(readable, out);
    } catch (err) {
      if (err === ERRORS.ERR_SIZE_EXCEEDED) throw err;
      throw ERRORS.FILE_WRITE_ERROR;
    }
    // (The offset is what `received` says: every chunk counted was written before the end.)
    return offset + received;
  }
}
