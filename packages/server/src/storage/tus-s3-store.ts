import type { Knex } from "knex";
import type { S3Config } from "../config.js";
import type { BlobStore, StoredBlob } from "./blob-store.js";
import { s3Client } from "./s3.js";
import { S3ChunkStore } from "./tus-s3-chunk-store.js";
import { HashingStore } from "./tus-hashing-store.js";
import type { UploadStore } from "./upload-store.js";

/** tus on S3: pieces in the bucket, their records in `upload_chunks` (see S3ChunkStore). */
export class S3UploadStore implements UploadStore {
  readonly datastore: HashingStore;
  readonly chunks: S3ChunkStore;
  readonly stats: { rebuiltBytes: number };

  constructor(config: S3Config, db: Knex, expiryMs: number, onRebuilt?: (id: string, bytes: number, ms: number) => void) {
    this.chunks = new S3ChunkStore(s3Client(config), config, db, expiryMs);
    this.datastore = new HashingStore(this.chunks, (id, end) => this.chunks.read(id, end), onRebuilt);
    this.stats = this.datastore.stats;
  }

  sha256(id: string, size: number): Promise<string> {
    return this.datastore.sha256(id, size);
  }

  /**
   * The pieces, in order, streamed into one new blob (a multipart upload above 8 MiB): every byte
   * is read back from the bucket and written once more, through this process. Then the pieces go.
   */
  async moveToBlobStore(id: string, blobs: BlobStore): Promise<StoredBlob> {
    const blob = await blobs.put(this.chunks.read(id));
    await this.remove(id);
    this.datastore.markFinished(id, blob.size);
    return blob;
  }

  async remove(id: string): Promise<void> {
    this.datastore.states.delete(id);
    await this.chunks.remove(id);
  }

  close(): void {
    this.chunks.client.destroy();
  }
}
