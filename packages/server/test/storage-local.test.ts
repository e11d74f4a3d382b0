import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { filesUnder } from "@speedyfiles/test-utils/uploads";
import { LocalBlobStore } from "../src/storage/local.js";
import { removeAbandoned } from "../src/storage/temp-folders.js";

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
      expect(await filesUnder(path.join(dir, "tmp"))).toEqual([]);
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

  it("start-up removes only old loose temp files of the former layout: one being written survives", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-store-"));
    try {
      await fs.mkdir(path.join(dir, "tmp"));
      const tmp = path.join(dir, "tmp");
      const live = path.join(tmp, "11111111-1111-4111-8111-111111111111.part");
      const crashed = path.join(tmp, "22222222-2222-4222-8222-222222222222.part");
      await fs.writeFile(live, "being written right now");
      await fs.writeFile(crashed, "left by a crash");
      const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
      await fs.utimes(crashed, twoHoursAgo, twoHoursAgo);
      // A process starting on the same data dir.
      const store = new LocalBlobStore(dir);
      await store.init();
      expect((await fs.readdir(tmp, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name)).toEqual([path.basename(live)]);
      store.close();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("a file taken over as a blob (a finished resumable upload) is dated now, however long ago its last byte was written", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-store-"));
    try {
      const store = new LocalBlobStore(dir);
      await store.init();
      // A resumable upload's bytes, the last written two hours ago (its finish comes now).
      await fs.mkdir(path.join(dir, "uploads"));
      const part = path.join(dir, "uploads", "55555555-5555-4555-8555-555555555555");
      await fs.writeFile(part, "all the bytes");
      const then = new Date(Date.now() - 2 * 3_600_000);
      await fs.utimes(part, then, then);
      const blob = await store.adopt(part);
      const mtime = (await fs.stat(path.join(dir, "blobs", store.relativePath(blob.key)))).mtimeMs;
      expect(Math.abs(Date.now() - mtime), "the blob's age (the orphan sweep's measure) starts now").toBeLessThan(10_000);
      store.close();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("each store writes into a folder of its own, removed on close; start and sweep remove only folders whose owner is gone", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-store-"));
    try {
      const tmp = path.join(dir, "tmp");
      const first = new LocalBlobStore(dir);
      await first.init();
      const [own] = await fs.readdir(tmp);
      expect(own).toMatch(/^[0-9a-f]{16}\.\d+\.\d+\.[0-9a-f]{8}$/);
      const [machine, , start] = own!.split(".");
      // Folders other processes left: on this machine a pid that does not exist, and this
      // process's pid with another start time (a reused pid); from another machine sharing the
      // data dir, one beating now (one whose heartbeat stopped: "temp folders of other processes").
      const deadPid = path.join(tmp, `${machine}.4194303.12345.00000000`);
      const reusedPid = path.join(tmp, `${machine}.${process.pid}.${Number(start) + 1}.00000001`);
      const otherMachineAlive = path.join(tmp, "0123456789abcdef.77.99.00000003");
      for (const d of [deadPid, reusedPid, otherMachineAlive]) {
        await fs.mkdir(d);
        await fs.writeFile(path.join(d, "33333333-3333-4333-8333-333333333333.part"), "partial");
      }
      // A live upload in the first store's folder, not yet finished.
      await fs.writeFile(path.join(tmp, own!, "44444444-4444-4444-8444-444444444444.part"), "mine");

      // A second store in this very process (as test servers are) keeps the first one's folder.
      const second = new LocalBlobStore(dir);
      await second.init();
      const left = (await fs.readdir(tmp)).sort();
      expect(left).toContain(own);
      expect(left).toContain(path.basename(otherMachineAlive));
      for (const d of [deadPid, reusedPid]) expect(left).not.toContain(path.basename(d));
      expect(left).toHaveLength(3);
      expect(await first.removeStaleTemp()).toBe(0);

      // Both still store, and close takes each one's folder away.
      await first.put(Readable.from([Buffer.from("a")]));
      await second.put(Readable.from([Buffer.from("b")]));
      first.close();
      second.close();
      expect(await fs.readdir(tmp)).toEqual([path.basename(otherMachineAlive)]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe("temp folders of other processes", () => {
  it("another machine's folder goes only once its heartbeat stopped changing for the window on this clock, never at first sight, whatever its mtime says", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-store-"));
    try {
      // Two folders of processes on a machine whose clock is an hour behind ours: both dated an
      // hour ago. One still beats (its mtime moves), the other stopped.
      const beating = path.join(dir, "fedcba9876543210.77.88.0000000a");
      const stopped = path.join(dir, "fedcba9876543210.77.99.0000000b");
      const hourAgo = Date.now() - 3_600_000;
      for (const d of [beating, stopped]) {
        await fs.mkdir(d);
        await fs.utimes(d, new Date(hourAgo), new Date(hourAgo));
      }
      const window = { abandonedAfterMs: 300 };
      expect(await removeAbandoned(dir, undefined, window), "first sight never removes").toBe(0);
      await new Promise((r) => setTimeout(r, 400));
      // The live process beats: its mtime moves (still an hour behind ours).
      await fs.utimes(beating, new Date(hourAgo + 30_000), new Date(hourAgo + 30_000));
      expect(await removeAbandoned(dir, undefined, window)).toBe(1);
      expect((await fs.readdir(dir)).sort()).toEqual([path.basename(beating)]);
      // It beats again within each window: it stays.
      await new Promise((r) => setTimeout(r, 200));
      await fs.utimes(beating, new Date(hourAgo + 60_000), new Date(hourAgo + 60_000));
      await new Promise((r) => setTimeout(r, 200));
      expect(await removeAbandoned(dir, undefined, window)).toBe(0);
      expect(await fs.readdir(dir)).toEqual([path.basename(beating)]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("on this machine, a process whose /proc entry cannot be read (EACCES, EPERM: hidepid) counts as alive", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-store-"));
    try {
      const store = new LocalBlobStore(dir);
      await store.init();
      const [own] = await fs.readdir(path.join(dir, "tmp"));
      const machine = own!.split(".")[0];
      store.close();
      const other = path.join(dir, "tmp", `${machine}.4194301.12345.0000000c`);
      await fs.mkdir(other);
      for (const code of ["EACCES", "EPERM"]) {
        const readStat = () => {
          throw Object.assign(new Error(`${code}: permission denied`), { code });
        };
        expect(await removeAbandoned(path.join(dir, "tmp"), undefined, { readStat }), code).toBe(0);
        expect(await fs.readdir(path.join(dir, "tmp"))).toEqual([path.basename(other)]);
      }
      // Readable, and no such process: gone at once.
      expect(await removeAbandoned(path.join(dir, "tmp"))).toBe(1);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
