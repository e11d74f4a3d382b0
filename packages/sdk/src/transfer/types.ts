import type { Readable } from "node:stream";
import type * as undici from "undici";
import type { EncryptionKey } from "../encryption/keys.js";
import type { components } from "../generated/api.js";
import type { ResumableOptions } from "./tus.js";

/** What an upload reads: a file path, a Readable, a Blob, or a Buffer / Uint8Array. */
export type UploadSource = string | Readable | Blob | Buffer | Uint8Array;

/** The server's record of a stored file (the spec's `File`). */
export type UploadedFile = components["schemas"]["File"];

export interface Progress {
  /** Bytes of this file sent or received so far. */
  bytes: number;
  /** Its size, when known. */
  total: number | undefined;
  /** On the first event of a resumed upload: the bytes the server already had. */
  resumedFrom?: number;
}

export interface UploadOptions {
  /** The name in the package; defaults to the file's base name for a path, else required. */
  name?: string;
  contentType?: string;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Fail when no byte moves for this long, in ms (default: the client's `stallTimeoutMs`). */
  stallTimeoutMs?: number;
  /**
   * Files of at least this many bytes (read from a path, a Buffer or a Blob) go through the
   * resumable tus upload; default: the client's `resumableThreshold` (64 MiB). `Infinity`: never.
   */
  resumableThreshold?: number;
  /** Settings of a resumable upload (chunk size, retries, an upload URL to resume). */
  resumable?: ResumableOptions;
  /**
   * Encrypts the file end to end (a file of an encrypted package): an age v1 file to this
   * recipient (`age1…`) or passphrase, stored under an opaque name, with its sealed entry
   * (plaintext `name`, size, `contentType` and SHA-256). The returned record is the server's:
   * it describes the ciphertext.
   */
  encrypt?: EncryptionKey;
}

export interface DownloadOptions {
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Expected SHA-256 (hex); checked when the download completes. */
  sha256?: string;
  /** Fail when no byte arrives for this long, in ms (default: the client's `stallTimeoutMs`). */
  stallTimeoutMs?: number;
}

/** What a transfer needs from the client it runs for. */
export interface TransferContext {
  token?: string | undefined;
  /** The client's stall timeout (ms); the call's own option wins. */
  stallTimeoutMs: number;
  dispatcher?: undici.Dispatcher | undefined;
  userAgent: string;
  /** A password-protected link's password, sent as `X-Link-Password`. */
  linkPassword?: string | undefined;
}
