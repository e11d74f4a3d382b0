import type { FileRow } from "../db/files.js";

/** What serving a stored file needs from its row. */
export type StoredFile = Pick<FileRow, "name" | "size" | "sha256" | "content_type" | "storage_key" | "created_at">;

/** An inclusive byte range of a file. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * What a download operation answers, decided by a service and sent by the one HTTP helper
 * (`sendDownload`): one stored file (with Range, ETag, HEAD) or a zip of several.
 */
export type Download = FileDownload | ArchiveDownload;

export interface FileDownload {
  kind: "file";
  file: StoredFile;
  /** `private, no-cache` for the owner; a magic link's downloads are `no-store` (its URL is a secret). */
  cacheControl: string;
  /**
   * false: the bytes come from this origin even when the store would hand out a presigned URL of
   * another (a browser's service worker cannot follow a redirect there). Default true.
   */
  redirect?: boolean;
  /**
   * Called once the answer carrying the file's bytes was sent to its end (never for a HEAD, a
   * 304, a 416 or an answer the client cut short), with the range sent (undefined: all of it).
   */
  onSent?: (range: ByteRange | undefined) => Promise<void>;
  /**
   * Called just before the bytes of a GET start (never for a HEAD, a 304 or a 416), with the range
   * to be sent; may throw an ApiError to refuse (nothing was sent yet). Once it ran, exactly one of
   * `onSent` and `onUnsent` follows.
   */
  begin?: (range: ByteRange | undefined) => Promise<void>;
  /** After `begin`: the answer did not reach its end. */
  onUnsent?: () => Promise<void>;
}

export interface ArchiveDownload {
  kind: "archive";
  /** The zip's file name. */
  name: string;
  /**
   * The files in their zip order: all of them (then the zip's length is known before it is sent:
   * Content-Length), or page by page (the zip starts at once and is sent chunked).
   */
  files: StoredFile[] | AsyncIterable<StoredFile[]>;
  /** Called once the whole zip was sent (never for a HEAD or a cut-short answer). */
  onSent?: () => Promise<void>;
  /** As FileDownload's: before the first byte of a GET; may refuse. */
  begin?: () => Promise<void>;
  onUnsent?: () => Promise<void>;
}
