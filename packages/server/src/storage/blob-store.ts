import type { Readable, Writable } from "node:stream";

export interface StoredBlob {
  key: string;
  size: number;
}

/**
 * Where file bytes live. Keys are generated ids, never derived from a client's file name.
 * Implementations stream: nothing is ever held whole in memory.
 */
export interface BlobStore {
  /**
   * Writes `source` to a new blob. Resolves once the bytes are durable. If `source` errors (the
   * client went away, a limit was hit, a checksum failed), rejects and leaves nothing behind.
   * When the store has no room left it rejects with `InsufficientStorage` (507), also leaving
   * nothing behind.
   */
  put(source: Readable): Promise<StoredBlob>;
  /** A stream of the blob's bytes, `start`..`end` inclusive when given. */
  read(key: string, range?: { start: number; end: number }): Readable;
  /**
   * Optional, faster than piping `read()`: writes the blob's bytes (`start`..`end` inclusive when
   * given) into `out`, without ending it. Resolves when every byte was handed to `out` and
   * written; rejects if `out` fails or closes first.
   */
  sendTo?(key: string, range: { start: number; end: number } | undefined, out: Writable): Promise<void>;
  /**
   * Optional, for a file already complete on the same disk (a finished resumable upload): takes
   * it over as a new blob (fsync, then a rename, no copy). The file is gone from `path` after.
   */
  adopt?(path: string): Promise<StoredBlob>;
  delete(key: string): Promise<void>;
  /** Throws if the store cannot be written. Used by /health. */
  check(): Promise<void>;
}
