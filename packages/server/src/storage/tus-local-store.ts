import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { FileStore } from "@tus/file-store";
import type { BlobStore, StoredBlob } from "./blob-store.js";
import { BufferedFileStore } from "./tus-file-store.js";
import { HashingStore } from "./tus-hashing-store.js";
import type { UploadStore } from "./upload-store.js";

/** tus on local disk: `<dataDir>/uploads/<id>` (bytes) and `<id>.json` (tus's own record). */
export class LocalUploadStore implements UploadStore {
  readonly datastore: HashingStore;
  private readonly files: FileStore;
  readonly stats: { rebuiltBytes: number };

  constructor(
    private readonly dir: string,
    expiryMs: number,
    onRebuilt?: (id: string, bytes: number, ms: number) => void,
  ) {
    this.files = new BufferedFileStore({ directory: dir, expirationPeriodInMilliseconds: expiryMs });
    this.datastore = new HashingStore(this.files, (id, end) => fs.createReadStream(this.pathOf(id), { start: 0, end: end - 1, highWaterMark: 1024 * 1024 }), onRebuilt);
    this.stats = this.datastore.stats;
  }

  private pathOf(id: string): string {
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error("invalid upload id");
    return path.join(this.dir, id);
  }

  sha256(id: string, size: number): Promise<string> {
    return this.datastore.sha256(id, size);
  }

  async moveToBlobStore(id: string, blobs: BlobStore): Promise<StoredBlob> {
    const file = this.pathOf(id);
    // Same file system (both under the data dir): a rename, not a copy of the bytes.
    const blob = blobs.adopt ? await blobs.adopt(file) : await blobs.put(fs.createReadStream(file, { highWaterMark: 1024 * 1024 }));
    await this.remove(id);
    this.datastore.markFinished(id, blob.size);
    return blob;
  }

  async remove(id: string): Promise<void> {
    this.datastore.states.delete(id);
    await fsp.rm(this.pathOf(id), { force: true });
    await fsp.rm(`${this.pathOf(id)}.json`, { force: true });
  }
}
