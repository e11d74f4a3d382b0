// transfer/chunks.ts: the bytes of a file range for an upload, read into reused buffers.
import fs from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { fileRange, READ_CHUNK } from "../src/transfer/chunks.js";
import { SpeedyFilesError } from "../src/index.js";
import { bytes, tmpDir } from "./helpers/tmp.js";

/** Copies each chunk before asking for the next, as undici's socket writes do. */
async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(Buffer.from(c));
  return Buffer.concat(out);
}

describe("fileRange", () => {
  it("yields exactly the bytes start..end, in chunks of at most 1 MiB, for ranges around the chunk size", async () => {
    const data = bytes(3 * READ_CHUNK + 123);
    const file = path.join(await tmpDir(), "r.bin");
    await fs.writeFile(file, data);
    for (const [start, end] of [
      [0, data.length],
      [1, data.length - 1],
      [READ_CHUNK - 1, 2 * READ_CHUNK + 1],
      [5, 6],
      [7, 7],
    ] as const) {
      const sizes: number[] = [];
      const got: Buffer[] = [];
      for await (const c of fileRange(file, start, end)) {
        sizes.push(c.length);
        got.push(Buffer.from(c));
      }
      expect(Buffer.concat(got).equals(data.subarray(start, end))).toBe(true);
      expect(Math.max(0, ...sizes)).toBeLessThanOrEqual(READ_CHUNK);
    }
  });

  it("reuses a few buffers instead of allocating one per read", async () => {
    const file = path.join(await tmpDir(), "reuse.bin");
    await fs.writeFile(file, bytes(10 * READ_CHUNK));
    const seen = new Set<ArrayBufferLike>();
    for await (const c of fileRange(file, 0, 10 * READ_CHUNK)) seen.add(c.buffer);
    expect(seen.size).toBeLessThanOrEqual(4);
  });

  it("a file that got shorter than announced is an error naming it, not a short upload", async () => {
    const file = path.join(await tmpDir(), "short.bin");
    await fs.writeFile(file, bytes(1000));
    const err = await collect(fileRange(file, 0, 5000)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SpeedyFilesError);
    expect((err as Error).message).toMatch(/short\.bin got shorter while it was being sent \(1000 of 5000 bytes\)/);
  });

  it("closes the file when the consumer stops early", async () => {
    const file = path.join(await tmpDir(), "early.bin");
    await fs.writeFile(file, bytes(4 * READ_CHUNK));
    const before = (await fs.readdir("/proc/self/fd")).length;
    for await (const c of fileRange(file, 0, 4 * READ_CHUNK)) {
      expect(c.length).toBe(READ_CHUNK);
      break;
    }
    expect((await fs.readdir("/proc/self/fd")).length).toBe(before);
  });
});
