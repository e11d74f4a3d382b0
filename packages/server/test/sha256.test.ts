import crypto from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { Sha256Stream } from "../src/util/sha256.js";

async function hashThrough(chunks: Buffer[], slowSink = false): Promise<{ digest: string; out: Buffer }> {
  const sha = new Sha256Stream();
  const got: Buffer[] = [];
  const sink = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, cb) {
      got.push(chunk);
      if (slowSink) setImmediate(cb);
      else cb();
    },
  });
  await pipeline(Readable.from(chunks), sha, sink);
  return { digest: await sha.digest(), out: Buffer.concat(got) };
}

describe("Sha256Stream (hashing on a worker thread)", () => {
  it("passes every byte through unchanged and hashes them like crypto does", async () => {
    const data = crypto.randomBytes(5 * 1024 * 1024 + 123);
    const chunks = [data.subarray(0, 1), data.subarray(1, 70_000), data.subarray(70_000, 3_000_001), data.subarray(3_000_001)];
    const { digest, out } = await hashThrough(chunks, true);
    expect(out.equals(data)).toBe(true);
    expect(digest).toBe(crypto.createHash("sha256").update(data).digest("hex"));
  });

  it("hashes an empty stream", async () => {
    const { digest } = await hashThrough([]);
    expect(digest).toBe(crypto.createHash("sha256").digest("hex"));
  });

  it("keeps many concurrent streams apart and survives more than the in-flight limit", async () => {
    const inputs = Array.from({ length: 6 }, (_, i) => crypto.randomBytes(3 * 1024 * 1024 + i * 4099));
    const bigChunks = (b: Buffer) => Array.from({ length: Math.ceil(b.length / 65536) }, (_, i) => b.subarray(i * 65536, (i + 1) * 65536));
    const results = await Promise.all(inputs.map((b) => hashThrough(bigChunks(b))));
    results.forEach((r, i) => expect(r.digest).toBe(crypto.createHash("sha256").update(inputs[i]!).digest("hex")));
    const huge = crypto.randomBytes(24 * 1024 * 1024);
    expect((await hashThrough([huge])).digest).toBe(crypto.createHash("sha256").update(huge).digest("hex"));
  });

  it("rejects the digest when the stream is destroyed before its end", async () => {
    const sha = new Sha256Stream();
    const emitted = new Promise<Error>((resolve) => sha.on("error", resolve));
    sha.write(Buffer.alloc(10));
    sha.destroy(new Error("client went away"));
    expect((await emitted).message).toBe("client went away");
    await expect(sha.digest()).rejects.toThrow("client went away");
  });
});
