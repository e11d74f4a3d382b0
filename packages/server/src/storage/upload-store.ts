import fsp from "node:fs/promises";
import path from "node:path";
import type { DataStore } from "@tus/utils";
import type { Knex } from "knex";
import type { S3Config } from "../config.js";
import type { BlobStore, StoredBlob } from "./blob-store.js";
import { LocalUploadStore } from "./tus-local-store.js";
import { S3UploadStore } from "./tus-s3-store.js";

export { DirectBody, directBody } from "./tus-direct-body.js";
export { S3_CHUNK_BYTES } from "./tus-s3-chunk-store.js";

/**
 * Where the bytes of unfinished resumable (tus) uploads live, chosen in one place
 * (`createUploadStore`): @tus/file-store under `<dataDir>/uploads` with local storage; with
 * `SF_STORAGE=s3`, chunk objects in the bucket (tus-s3-chunk-store.ts), so that any server process
 * on any machine can take the next PATCH of an upload.
 *
 * The store given to @tus/server is wrapped (tus-hashing-store.ts) so that the SHA-256 of an upload is computed while
 * its bytes arrive: one hash state per upload, in memory, advanced by every PATCH. Node's Hash
 * cannot be serialized, so the state is lost when the process restarts (or when the next PATCH
 * of the upload reaches another process). The next write then first reads back the bytes already
 * stored and hashes them once (`rebuilt` counts those bytes): one sequential read of the prefix,
 * about a second per GiB here, once per restart, never per chunk (on S3: a GET of each chunk).
 */
export interface UploadStore {
  /** The DataStore handed to @tus/server. */
  readonly datastore: DataStore;
  /** The SHA-256 (hex) of a finished upload's `size` bytes. */
  sha256(id: string, size: number): Promise<string>;
  /** Moves a finished upload's bytes into the blob store as a new blob; the upload is gone after. */
  moveToBlobStore(id: string, blobs: BlobStore): Promise<StoredBlob>;
  /** Removes an upload's bytes and state; no error when already gone. */
  remove(id: string): Promise<void>;
  /** Bytes read back to rebuild hash states after a restart (for tests and the log). */
  readonly stats: { rebuiltBytes: number };
  /** Releases connections (called when the server stops). */
  close?(): void;
}

export interface UploadStoreOptions {
  dataDir: string;
  expiryHours: number;
  /** With SF_STORAGE=s3: the bucket, and the database that records the pieces. */
  s3?: { config: S3Config; db: Knex };
  onRebuilt?: (id: string, bytes: number, ms: number) => void;
}

/** The one place the tus store is chosen. */
export async function createUploadStore(opts: UploadStoreOptions): Promise<UploadStore> {
  if (opts.s3) return new S3UploadStore(opts.s3.config, opts.s3.db, opts.expiryHours * 3_600_000, opts.onRebuilt);
  const dir = path.join(opts.dataDir, "uploads");
  await fsp.mkdir(dir, { recursive: true });
  return new LocalUploadStore(dir, opts.expiryHours * 3_600_000, opts.onRebuilt);
}
