import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { LocalBlobStore } from "../src/storage/local.js";

describe("the local-disk blob store", () => {
  it("leaves no temp file behind when the source fails before the file is even open", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-store-"));
    try {
      const store = new LocalBlobStore(dir);
      await store.init();
      const failing = () =>
        new Readable({
          read() {
            this.destroy(new Error("the client went away"));
          },
        });
      const results = await Promise.allSettled(Array.from({ length: 200 }, () => store.put(failing())));
      expect(results.every((r) => r.status === "rejected")).toBe(true);
      // Give a late open of any write stream the time to happen, then look.
      await new Promise((r) => setTimeout(r, 200));
      expect(await fs.readdir(path.join(dir, "tmp"))).toEqual([]);
      expect(await fs.readdir(path.join(dir, "blobs"))).toEqual([]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("a download whose client goes away rejects once and leaves no unhandled rejection behind", async () => {
    // Seen in CI: a client that reset the connection mid-download made both pending socket writes
    // fail, sendTo gave up on the first, and the second failure was an unhandled rejection.
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-store-"));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const store = new LocalBlobStore(dir);
      await store.init();
      const { key } = await store.put(Readable.from([Buffer.alloc(8 * 1024 * 1024, 7)]));
      for (let i = 0; i < 20; i++) {
        // A socket that resets while a write is in flight: that write fails, and so does the one
        // queued behind it.
        const out = new Writable({
          write(_chunk, _enc, cb) {
            setTimeout(() => cb(new Error("ECONNRESET")), 5);
          },
        });
        out.on("error", () => {});
        await expect(store.sendTo!(key, undefined, out)).rejects.toThrow();
      }
      await new Promise((r) => setTimeout(r, 100));
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("start-up removes only temp files nobody is writing: another process's upload in progress survives", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-store-"));
    try {
      await new LocalBlobStore(dir).init();
      const tmp = path.join(dir, "tmp");
      const live = path.join(tmp, "11111111-1111-4111-8111-111111111111.part");
      const crashed = path.join(tmp, "22222222-2222-4222-8222-222222222222.part");
      await fs.writeFile(live, "being written right now");
      await fs.writeFile(crashed, "left by a crash");
      const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
      await fs.utimes(crashed, twoHoursAgo, twoHoursAgo);
      // A second process starting on the same data dir.
      await new LocalBlobStore(dir).init();
      expect(await fs.readdir(tmp)).toEqual([path.basename(live)]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
