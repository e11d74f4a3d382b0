import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
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
});
