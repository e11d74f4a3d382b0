import fs from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { AbortError, ChecksumError, ConflictError, SpeedyFiles, SpeedyFilesError, type Progress } from "../src/index.js";
import { bytes, sha256, tmpDir } from "./helpers/tmp.js";

const draft = { title: "uploads", recipient_email: "cfo@acme.com", direction: "outbound" as const, ttl_days: 1 };

/** Progress must rise monotonically from 0 and end exactly at the size. */
function checkProgress(events: Progress[], size: number, total: number | undefined) {
  expect(events.length).toBeGreaterThan(size > 0 ? 1 : 0);
  expect(events[0]!.bytes).toBe(0);
  for (let i = 1; i < events.length; i++) expect(events[i]!.bytes).toBeGreaterThanOrEqual(events[i - 1]!.bytes);
  expect(events.at(-1)!.bytes).toBe(size);
  for (const e of events) expect(e.total).toBe(total);
}

async function waitFor(check: () => Promise<boolean>, ms = 5000) {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(DATABASES)("uploadFile / downloadFile (%s)", (kind) => {
  let t: TestServer;
  let sf: SpeedyFiles;
  let dir: string;
  beforeAll(async () => {
    t = await startTestServer(kind);
    const { token } = await t.createUser();
    sf = new SpeedyFiles({ baseUrl: t.url, token });
    dir = await tmpDir();
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each([
    ["a path", 3_500_000],
    ["a Buffer", 2_500_000],
    ["a Uint8Array", 100_000],
    ["a Blob", 1_800_000],
    ["a Readable (size unknown)", 2_200_000],
    ["an empty Buffer", 0],
  ])("from %s, with progress ending at the size", async (what, size) => {
    const data = bytes(size, size % 97);
    const pkg = await sf.packages.create(draft);
    const events: Progress[] = [];
    const onProgress = (p: Progress) => events.push(p);
    let up;
    let total: number | undefined = size;
    if (what === "a path") {
      const p = path.join(dir, "from-path.bin");
      await fs.writeFile(p, data);
      up = await sf.uploadFile(pkg.id, p, { onProgress });
      expect(up.name).toBe("from-path.bin");
    } else if (what === "a Blob") {
      up = await sf.uploadFile(pkg.id, new Blob([new Uint8Array(data)], { type: "image/png" }), { name: "blob.png", contentType: "image/png", onProgress });
      expect(up.content_type).toBe("image/png");
    } else if (what.startsWith("a Readable")) {
      total = undefined;
      const chunks = function* () {
        for (let i = 0; i < data.length; i += 65_536) yield data.subarray(i, i + 65_536);
      };
      up = await sf.uploadFile(pkg.id, Readable.from(chunks()), { name: "stream.bin", onProgress });
    } else if (what === "a Uint8Array") {
      up = await sf.uploadFile(pkg.id, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), { name: "u8.bin", onProgress });
    } else {
      up = await sf.uploadFile(pkg.id, data, { name: "buffer.bin", onProgress });
    }
    expect(up.size).toBe(size);
    expect(up.sha256).toBe(sha256(data));
    checkProgress(events, size, total);
    const stored = await sf.packages.get(pkg.id);
    expect(stored.files.map((f) => [f.id, f.size, f.sha256])).toEqual([[up.id, size, up.sha256]]);
  });

  it("keeps relative names and odd characters", async () => {
    const pkg = await sf.packages.create(draft);
    const names = ["sub/dir/a.txt", "quote 'x' & (y) #1.txt", "back\\slash-free ü €.txt".replace("\\", "")];
    for (const name of names) {
      const up = await sf.uploadFile(pkg.id, Buffer.from(name), { name });
      expect(up.name).toBe(name);
    }
    await expect(sf.uploadFile(pkg.id, Buffer.from("x"), { name: "a\nb" })).rejects.toBeInstanceOf(SpeedyFilesError);
  });

  it("needs a name unless the source is a path, and a readable file", async () => {
    const pkg = await sf.packages.create(draft);
    await expect(sf.uploadFile(pkg.id, Buffer.from("x"))).rejects.toThrow(/needs \{ name \}/);
    await expect(sf.uploadFile(pkg.id, path.join(dir, "missing.bin"))).rejects.toThrow(/ENOENT/);
    await expect(sf.uploadFile(pkg.id, dir)).rejects.toThrow(/not a file/);
  });

  it("a finalized package takes no files: ConflictError", async () => {
    const pkg = await sf.packages.create(draft);
    await sf.uploadFile(pkg.id, Buffer.from("x"), { name: "x" });
    await sf.packages.finalize(pkg.id);
    const err = await sf.uploadFile(pkg.id, Buffer.from("y"), { name: "y" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({ status: 409, method: "POST" });
  });

  it("abort mid-upload → AbortError, and no file is left in the package", async () => {
    const pkg = await sf.packages.create(draft);
    const size = 40_000_000;
    const p = path.join(dir, "big.bin");
    await fs.writeFile(p, Buffer.alloc(size, 1));
    const ac = new AbortController();
    let last = 0;
    const err = await sf
      .uploadFile(pkg.id, p, {
        signal: ac.signal,
        onProgress: ({ bytes: b }) => {
          last = b;
          if (b >= 4_000_000) ac.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toBeInstanceOf(SpeedyFilesError);
    expect(last).toBeLessThan(size);
    // The server drops the partial file once it sees the connection go.
    await waitFor(async () => (await sf.packages.get(pkg.id)).files.length === 0);
    await new Promise((r) => setTimeout(r, 300));
    expect((await sf.packages.get(pkg.id)).files).toEqual([]);
    // And the package still takes a file afterwards.
    await sf.uploadFile(pkg.id, Buffer.from("after"), { name: "after.txt" });
    expect((await sf.packages.get(pkg.id)).files.map((f) => f.name)).toEqual(["after.txt"]);
  });

  it("download equals upload: bytes and sha256, with progress", async () => {
    const data = bytes(5_000_123, 9);
    const pkg = await sf.packages.create(draft);
    const up = await sf.uploadFile(pkg.id, data, { name: "roundtrip.bin" });
    const dest = path.join(dir, "nested/out/roundtrip.bin");
    const events: Progress[] = [];
    const r = await sf.downloadFile(pkg.id, up.id, dest, { onProgress: (e) => events.push(e) });
    expect(r).toEqual({ size: data.length, sha256: up.sha256 });
    const got = await fs.readFile(dest);
    expect(got.equals(data)).toBe(true);
    expect(sha256(got)).toBe(up.sha256);
    expect(events.at(-1)).toEqual({ bytes: data.length, total: data.length });
    await expect(fs.stat(`${dest}.part`)).rejects.toThrow(/ENOENT/);
  });

  it("resumes from <dest>.part: only the rest is fetched, and the result verifies", async () => {
    const data = bytes(4_000_000, 11);
    const half = data.length / 2;
    const pkg = await sf.packages.create(draft);
    const up = await sf.uploadFile(pkg.id, data, { name: "resume.bin" });
    const dest = path.join(dir, "resume.bin");
    await fs.writeFile(`${dest}.part`, data.subarray(0, half));
    const events: Progress[] = [];
    const r = await sf.downloadFile(pkg.id, up.id, dest, { onProgress: (e) => events.push(e) });
    expect(r).toEqual({ size: data.length, sha256: sha256(data) });
    expect((await fs.readFile(dest)).equals(data)).toBe(true);
    // Progress starts at the half: the first half was not fetched again.
    expect(events[0]!.bytes).toBe(half);
    for (const e of events) {
      expect(e.bytes).toBeGreaterThanOrEqual(half);
      expect(e.total).toBe(data.length);
    }
    expect(events.at(-1)!.bytes).toBe(data.length);
    await expect(fs.stat(`${dest}.part`)).rejects.toThrow(/ENOENT/);
  });

  it("a stale .part (not a prefix of the file) fails the checksum and is removed", async () => {
    const data = bytes(1_000_000, 12);
    const pkg = await sf.packages.create(draft);
    const up = await sf.uploadFile(pkg.id, data, { name: "stale.bin" });
    const dest = path.join(dir, "stale.bin");
    await fs.writeFile(`${dest}.part`, Buffer.alloc(1000, 0xff));
    const err = await sf.downloadFile(pkg.id, up.id, dest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    await expect(fs.stat(`${dest}.part`)).rejects.toThrow(/ENOENT/);
    await expect(fs.stat(dest)).rejects.toThrow(/ENOENT/);
    // Retrying starts over and succeeds.
    expect((await sf.downloadFile(pkg.id, up.id, dest)).sha256).toBe(up.sha256);
  });

  it("a complete .part is fetched again whole (416 → start over)", async () => {
    const data = bytes(300_000, 13);
    const pkg = await sf.packages.create(draft);
    const up = await sf.uploadFile(pkg.id, data, { name: "whole.bin" });
    const dest = path.join(dir, "whole.bin");
    await fs.writeFile(`${dest}.part`, data);
    expect(await sf.downloadFile(pkg.id, up.id, dest)).toEqual({ size: data.length, sha256: up.sha256 });
    expect((await fs.readFile(dest)).equals(data)).toBe(true);
  });

  it("a wrong expected sha256 → ChecksumError and no file", async () => {
    const pkg = await sf.packages.create(draft);
    const up = await sf.uploadFile(pkg.id, Buffer.from("abc"), { name: "abc" });
    const dest = path.join(dir, "abc");
    const err = await sf.downloadFile(pkg.id, up.id, dest, { sha256: "a".repeat(64) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    expect(err).toMatchObject({ expected: "a".repeat(64), actual: sha256("abc") });
    await expect(fs.stat(dest)).rejects.toThrow(/ENOENT/);
  });
});
