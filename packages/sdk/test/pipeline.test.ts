// The transfer pipeline: source → transforms → hash → transport, with a transform that changes
// the bytes and their size (as end-to-end encryption will), through both transports of a live
// server; and the pool's abort.
import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { AbortError, runConcurrently, SpeedyFiles, SpeedyFilesError, type Progress } from "../src/index.js";
import { upload, type UploadContext, type UploadTransform } from "../src/transfer/index.js";
import { USER_AGENT } from "../src/version.js";
import { bytes, sha256, tmpDir } from "./helpers/tmp.js";

const MiB = 1024 * 1024;
const draft = { title: "sealed", recipient_email: "cfo@acme.com", direction: "outbound" as const, ttl_days: 1 };
const TAG = 32;

/**
 * A toy of what encryption will do: a 16-byte header (the IV), AES-256-CTR over the bytes, an
 * HMAC-SHA256 trailer. Its output is `16 + n + 32` bytes, known before the first one; its key and
 * IV live in the object, so every pass makes the same bytes (what resuming needs).
 */
class Seal implements UploadTransform {
  readonly key = crypto.randomBytes(32);
  readonly iv = crypto.randomBytes(16);
  passes = 0;
  outputSize(n: number): number {
    return this.iv.length + n + TAG;
  }
  async *apply(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    this.passes++;
    const cipher = crypto.createCipheriv("aes-256-ctr", this.key, this.iv);
    const mac = crypto.createHmac("sha256", this.key);
    yield Buffer.from(this.iv);
    // cipher.update makes a new buffer: nothing of the (reused) input chunk is kept.
    for await (const c of input) {
      const out = cipher.update(c);
      mac.update(out);
      yield out;
    }
    yield mac.digest();
  }
  open(sealed: Buffer): Buffer {
    const body = sealed.subarray(this.iv.length, sealed.length - TAG);
    const tag = crypto.createHmac("sha256", this.key).update(body).digest();
    if (!tag.equals(sealed.subarray(sealed.length - TAG))) throw new Error("tag mismatch");
    const d = crypto.createDecipheriv("aes-256-ctr", this.key, sealed.subarray(0, this.iv.length));
    return Buffer.concat([d.update(body), d.final()]);
  }
}

/** Says it keeps the size but adds a byte. */
const liar: UploadTransform = {
  outputSize: (n) => n,
  async *apply(input) {
    yield* input;
    yield Buffer.from([0]);
  },
};

describe.each(DATABASES.slice(0, 1))("the upload pipeline with a transform (%s)", (kind) => {
  let t: TestServer;
  let sf: SpeedyFiles;
  let ctx: UploadContext;
  let dir: string;

  beforeAll(async () => {
    t = await startTestServer(kind);
    const { token } = await t.createUser();
    sf = new SpeedyFiles({ baseUrl: t.url, token });
    ctx = { token, stallTimeoutMs: 30_000, userAgent: USER_AGENT, resumableThreshold: Number.POSITIVE_INFINITY, resumable: { chunkSize: 512 * 1024, retryDelayMs: 10 } };
    dir = await tmpDir();
  });
  afterAll(async () => {
    await t?.close();
  });

  const packageBase = (id: string) => `${t.url}/api/v1/packages/${id}`;
  const tusRows = (packageId: string) => t.running.services.db("uploads").where({ package_id: packageId }).select("file_id");

  /** Downloads the stored file, opens it with `seal` and compares with `plain`. */
  async function roundTrip(packageId: string, fileId: string, seal: Seal, plain: Buffer) {
    const dest = path.join(dir, `${fileId}.sealed`);
    await sf.downloadFile(packageId, fileId, dest);
    const stored = await fs.readFile(dest);
    expect(stored.length).toBe(seal.outputSize(plain.length));
    expect(stored.subarray(16, 48).equals(plain.subarray(0, 32))).toBe(false);
    expect(seal.open(stored).equals(plain)).toBe(true);
  }

  it("multipart: a Buffer and a Readable, sealed on the way; the server stores and checksums the sealed bytes", async () => {
    const pkg = await sf.packages.create(draft);
    const plain = bytes(3 * MiB + 5);
    const seal = new Seal();
    const events: Progress[] = [];
    const onMismatch = (id: string) => sf.files.delete(pkg.id, id);
    const r = await upload({ base: packageBase(pkg.id), onMismatch, transforms: [seal] }, plain, { name: "a.bin", onProgress: (p) => events.push(p) }, ctx);
    expect(r.file.size).toBe(plain.length + 48);
    expect(r.sha256).toBe(r.file.sha256);
    expect(r.plaintextSha256).toBe(sha256(plain));
    expect(events.at(-1)).toEqual({ bytes: plain.length + 48, total: plain.length + 48 });
    await roundTrip(pkg.id, r.file.id, seal, plain);

    // A Readable has no size: chunked multipart, still sealed and hashed both ways.
    const seal2 = new Seal();
    const chunks = [plain.subarray(0, 1000), plain.subarray(1000, 2 * MiB), plain.subarray(2 * MiB)];
    const s = await upload({ base: packageBase(pkg.id), onMismatch, transforms: [seal2] }, Readable.from(chunks), { name: "b.bin" }, ctx);
    expect(s.plaintextSha256).toBe(sha256(plain));
    await roundTrip(pkg.id, s.file.id, seal2, plain);
    expect(await tusRows(pkg.id)).toEqual([]);
  });

  it("tus: the declared size is the Upload-Length; several PATCHes continue one pass; a link upload too", async () => {
    const pkg = await sf.packages.create(draft);
    const plain = bytes(2 * MiB + 333, 7);
    const file = path.join(dir, "c.bin");
    await fs.writeFile(file, plain);
    const seal = new Seal();
    const events: Progress[] = [];
    const r = await upload(
      { base: packageBase(pkg.id), onMismatch: (id) => sf.files.delete(pkg.id, id), transforms: [seal] },
      file,
      { resumableThreshold: 0, onProgress: (p) => events.push(p) },
      ctx,
    );
    expect(await tusRows(pkg.id)).toEqual([{ file_id: r.file.id }]);
    expect(r.file.name).toBe("c.bin");
    expect(r.plaintextSha256).toBe(sha256(plain));
    expect(seal.passes).toBe(1);
    expect(events.at(-1)!.bytes).toBe(seal.outputSize(plain.length));
    await roundTrip(pkg.id, r.file.id, seal, plain);

    const inbound = await sf.request({ from: "someone@acme.com" });
    const secret = inbound.magic_link.split("/").pop()!;
    const seal2 = new Seal();
    const viaLink = await upload(
      { base: `${t.url}/api/v1/links/${secret}`, onMismatch: async () => undefined, transforms: [seal2] },
      plain,
      { name: "in.bin", resumableThreshold: 0 },
      { ...ctx, token: undefined },
    );
    expect(viaLink.plaintextSha256).toBe(sha256(plain));
    await roundTrip(inbound.package.id, viaLink.file.id, seal2, plain);
  });

  it("tus: an interrupted sealed upload resumes from the server's offset (a new pass skips what it has)", async () => {
    const pkg = await sf.packages.create(draft);
    const plain = bytes(4 * MiB + 9, 3);
    const seal = new Seal();
    let url: string | undefined;
    const ac = new AbortController();
    const base = { base: packageBase(pkg.id), onMismatch: (id: string) => sf.files.delete(pkg.id, id), transforms: [seal] };
    const first = upload(
      base,
      plain,
      {
        name: "d.bin",
        resumableThreshold: 0,
        signal: ac.signal,
        resumable: { chunkSize: 256 * 1024, onUploadUrl: (u) => (url = u) },
        onProgress: (p) => p.bytes >= MiB && ac.abort(),
      },
      ctx,
    );
    await expect(first).rejects.toBeInstanceOf(AbortError);
    expect(url).toBeDefined();

    const events: Progress[] = [];
    const r = await upload(base, plain, { name: "d.bin", resumableThreshold: 0, resumable: { uploadUrl: url! }, onProgress: (p) => events.push(p) }, ctx);
    // What the server kept of the first run (whole PATCHes at least): skipped, not sent again.
    expect(events[0]!.resumedFrom).toBeGreaterThan(0);
    expect(seal.passes).toBe(2);
    expect(r.sha256).toBe(r.file.sha256);
    expect(r.plaintextSha256).toBe(sha256(plain));
    await roundTrip(pkg.id, r.file.id, seal, plain);
  });

  it("a transform that makes more than it declared fails the upload, on either transport, and stores nothing", async () => {
    const pkg = await sf.packages.create(draft);
    const onMismatch = (id: string) => sf.files.delete(pkg.id, id);
    for (const resumableThreshold of [Number.POSITIVE_INFINITY, 0]) {
      const err = await upload({ base: packageBase(pkg.id), onMismatch, transforms: [liar] }, bytes(1000), { name: "e.bin", resumableThreshold }, ctx).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SpeedyFilesError);
      expect((err as Error).message).toMatch(/an upload transform made more than the 1000 bytes it declared/);
    }
    expect((await sf.packages.get(pkg.id)).files).toEqual([]);
  });
});

describe("runConcurrently", () => {
  const tick = () => new Promise((r) => setTimeout(r, 5));

  it("honours the caller's abort: running tasks see it, no new item starts, AbortError", async () => {
    const ac = new AbortController();
    const started: number[] = [];
    const seen: boolean[] = [];
    const p = runConcurrently(
      [1, 2, 3, 4, 5, 6],
      2,
      async (n, signal) => {
        started.push(n);
        if (n === 2) ac.abort(new Error("stop"));
        await tick();
        // A task that finishes despite the abort does not let the next item start.
        seen.push(signal.aborted);
      },
      ac.signal,
    );
    await expect(p).rejects.toBeInstanceOf(AbortError);
    expect(started).toEqual([1, 2]);
    expect(seen).toEqual([true, true]);
  });

  it("the first failure stops the rest and is what it throws", async () => {
    const started: number[] = [];
    const boom = new Error("boom");
    const p = runConcurrently([1, 2, 3, 4], 2, async (n, signal) => {
      started.push(n);
      if (n === 1) throw boom;
      await new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
    });
    await expect(p).rejects.toBe(boom);
    expect(started).toEqual([1, 2]);
  });

  it("at most `concurrency` at a time, every item once", async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await runConcurrently([...Array(10).keys()], 3, async (n) => {
      peak = Math.max(peak, ++running);
      await tick();
      running--;
      done.push(n);
    });
    expect(peak).toBe(3);
    expect(done.sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
  });
});
