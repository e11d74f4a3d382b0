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
  /**
   * Optional: every stored blob with when it was last written, streamed a page at a time (never
   * the whole listing in memory), in no particular order. Only blobs: never the pieces of
   * unfinished resumable uploads or anything else beside them. Used to find blobs no row refers to.
   * `pageSize`: keys asked for per request, where the store pages (S3: at most 1,000, its default).
   */
  listBlobs?(opts?: { pageSize?: number }): AsyncIterable<ListedBlob>;
  /**
   * Optional, with listBlobs: the store's marker, a small object beside the blobs (never listed as
   * one) naming the database the store belongs to; undefined when there is none yet. The orphan
   * sweep removes nothing from a store whose marker names another database.
   */
  readMarker?(): Promise<string | undefined>;
  /** Writes the marker if there is none yet (a marker already there is kept: first come, first served). */
  writeMarker?(content: string): Promise<void>;
  /** Where the marker is, for log lines: a path, or `s3://bucket/key`. */
  readonly markerLocation?: string;
  /**
   * Optional: removes what the interrupted writes of processes that are gone left behind (run at
   * start and by the sweeper); resolves with how many temp folders (or old loose files) went.
   */
  removeStaleTemp?(): Promise<number>;
  /** Throws if the store cannot be written. Used by /health. */
  check(): Promise<void>;
  /**
   * Optional: hands the sending of a blob's bytes to something else (an object store's presigned
   * URL, nginx's X-Accel-Redirect), when so configured; undefined: the server sends them itself.
   * `as` are the headers the bytes must be sent with.
   */
  offload?(key: string, as: OffloadAs): Promise<Offload | undefined>;
  /** Releases connections (called when the server stops). */
  close?(): void;
}

export interface ListedBlob {
  key: string;
  modifiedAt: Date;
}

export interface OffloadAs {
  contentDisposition: string;
  contentType: string;
}

/** A redirect (302 to `location`) or an nginx internal redirect (`X-Accel-Redirect: accelRedirect`). */
export type Offload = { location: string } | { accelRedirect: string };
