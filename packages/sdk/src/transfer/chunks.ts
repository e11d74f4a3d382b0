import fsp from "node:fs/promises";
import { SpeedyFilesError } from "../errors.js";

/** Bytes read from a file at a time for an upload. */
export const READ_CHUNK = 1024 * 1024;
/** Buffers one read of a file cycles through. */
const RING = 4;

/**
 * The bytes `start`..`end` of a file, read into a few buffers that are used again and again
 * instead of a fresh 1 MiB buffer per read: at upload speed the fresh buffers cost a client
 * about a quarter of its CPU (the kernel zeroing new pages, V8 collecting external memory),
 * CPU that the server on the same machine needed.
 *
 * A chunk is only valid until the consumer asks for the one after the next `RING - 1`. That is
 * the contract of undici's request body when given an async iterable (never a Readable, which
 * reads ahead): it writes a chunk to the socket and, when the write did not finish at once, waits
 * for `drain` (every queued byte handed to the kernel) before it asks for the next one. That holds
 * while the socket's write buffer limit is under the chunk size (16 KiB by default; a dispatcher
 * made with `connect: { highWaterMark }` of 4 MiB or more would break it). Were it ever not to
 * hold, the SHA-256 the server computes would not match ours and the upload would fail with a
 * ChecksumError, never be stored wrong.
 */
export async function* fileRange(file: string, start: number, end: number): AsyncGenerator<Buffer, void, undefined> {
  if (end <= start) return;
  const fh = await fsp.open(file, "r");
  try {
    // Allocated as needed: a small file takes one buffer of its own size.
    const ring: Buffer[] = [];
    let pos = start;
    for (let i = 0; pos < end; i = (i + 1) % RING) {
      const buf = (ring[i] ??= Buffer.allocUnsafeSlow(Math.min(READ_CHUNK, end - start)));
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
      if (bytesRead === 0) throw new SpeedyFilesError(`${file} got shorter while it was being sent (${pos} of ${end} bytes)`);
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/** The bytes `start`..`end` of a Buffer in chunks of at most READ_CHUNK: views, no copies. */
export async function* bufferRange(buf: Buffer, start: number, end: number): AsyncGenerator<Buffer, void, undefined> {
  for (let i = start; i < end; i += READ_CHUNK) yield buf.subarray(i, Math.min(end, i + READ_CHUNK));
}
