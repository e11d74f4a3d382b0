import fsp from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import type { ReadableStream } from "node:stream/web";
import { SpeedyFilesError } from "../errors.js";
import { bufferRange, fileRange } from "./chunks.js";
import type { UploadSource } from "./types.js";

/**
 * The first stage of an upload: what it reads. A path, a Blob or a Buffer can be read again from
 * any offset (`range`), which is what lets a resumable upload go back after a failure; a Readable
 * only once, in order (`stream`).
 */
export interface Source {
  /** The name in the package. */
  name: string;
  /** Bytes, when known (not for a Readable). */
  size: number | undefined;
  /** The bytes `start`..`end` (a path's through reused buffers: see chunks.ts). */
  range?: ((start: number, end: number) => AsyncIterable<Buffer>) | undefined;
  /** A Readable's bytes, read once. */
  stream?: Readable | undefined;
}

/** Opens `source`: a path is checked (a file, its size), anything else needs `name`. */
export async function openSource(source: UploadSource, name: string | undefined): Promise<Source> {
  if (typeof source === "string") {
    const st = await fsp.stat(source).catch((err: NodeJS.ErrnoException) => {
      throw new SpeedyFilesError(`cannot read ${source}: ${err.code ?? err.message}`, { cause: err });
    });
    if (!st.isFile()) throw new SpeedyFilesError(`${source} is not a file`);
    return { name: name ?? path.basename(source), size: st.size, range: (start, end) => fileRange(source, start, end) };
  }
  if (!name) throw new SpeedyFilesError("uploadFile needs { name } when the source is not a file path");
  if (source instanceof Readable) return { name, size: undefined, stream: source };
  if (typeof Blob !== "undefined" && source instanceof Blob) {
    const blob = source;
    const web = (b: Blob) => Readable.fromWeb(b.stream() as ReadableStream);
    return { name, size: blob.size, range: (start, end) => web(start === 0 && end === blob.size ? blob : blob.slice(start, end)) };
  }
  const u8 = source as Uint8Array;
  const buf = Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
  // Slices share memory with the caller's buffer: no copy.
  return { name, size: buf.length, range: (start, end) => bufferRange(buf, start, end) };
}
