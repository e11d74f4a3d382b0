import fsp from "node:fs/promises";
import path from "node:path";
import type { Config } from "../config.js";
import type { BlobStore } from "../storage/blob-store.js";
import { LocalBlobStore } from "../storage/local.js";
import { S3BlobStore } from "../storage/s3.js";

/** The configured blob store as the backup commands look at it: read, list, sizes. */
export interface BlobAccess {
  kind: "local" | "s3";
  /** For messages: the blobs folder, or `s3://bucket/prefix`. */
  where: string;
  store: BlobStore;
  /** The stored size of a blob; undefined when it is not there. */
  size(key: string): Promise<number | undefined>;
  /** Local disk: where a blob's file is. */
  filePath?(key: string): string;
  close(): void;
}

/**
 * The store SF_STORAGE names, opened for reading only: no temp folder is made in the data folder
 * and nothing is swept (LocalBlobStore.init is not called).
 */
export function openBlobAccess(config: Readonly<Config>): BlobAccess {
  if (config.storage === "s3" && config.s3) {
    const s3 = new S3BlobStore(config.s3, { maxFileBytes: config.maxFileBytes });
    return {
      kind: "s3",
      where: `s3://${config.s3.bucket}/${config.s3.prefix}`,
      store: s3,
      size: async (key) => (await s3.head(key))?.size,
      close: () => s3.close(),
    };
  }
  const local = new LocalBlobStore(config.dataDir);
  const filePath = (key: string) => local.filePath(key);
  return {
    kind: "local",
    where: path.join(config.dataDir, "blobs"),
    store: local,
    filePath,
    size: async (key) => {
      const st = await fsp.stat(filePath(key)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw err;
      });
      return st?.size;
    },
    close: () => undefined,
  };
}
