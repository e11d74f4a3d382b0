import { SpeedyFilesError } from "../errors.js";

/**
 * A change to an upload's bytes on their way out, between the source and the transport
 * (end-to-end encryption, for one). The server stores, and checksums, what the transform makes.
 */
export interface UploadTransform {
  /**
   * The exact number of bytes it makes of `inputSize` bytes. Asked before the first byte moves:
   * a resumable upload announces its length when it is created (tus `Upload-Length`), a
   * multipart one its `Content-Length`. A transform that makes more or fewer fails the upload.
   */
  outputSize(inputSize: number): number;
  /**
   * The transformed bytes of `input`. A resumable upload that has to go back (after a failure,
   * or resuming an upload another run started) runs it again over the whole input and skips what
   * the server already has, so every run of one transform object must make the same bytes (keep
   * keys and nonces in the object, not per call). Input chunks may be buffers the source reuses:
   * one is valid only until the next is asked for, so copy what you keep longer.
   */
  apply(input: AsyncIterable<Buffer>): AsyncIterable<Buffer>;
}

/** The output size of `transforms` applied in order to `size` bytes. */
export function outputSize(transforms: readonly UploadTransform[], size: number): number {
  let n = size;
  for (const t of transforms) {
    n = t.outputSize(n);
    if (!Number.isSafeInteger(n) || n < 0) throw new SpeedyFilesError(`an upload transform declared an output size of ${n} bytes`);
  }
  return n;
}

/** `input` through `transforms`, in order. */
export function applyAll(transforms: readonly UploadTransform[], input: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  return transforms.reduce((acc, t) => t.apply(acc), input);
}

/**
 * A transformed stream read in ranges: consecutive ranges continue one pass, a range that starts
 * before the last one ended opens a new pass from the first byte (`open`) and skips ahead. Every
 * chunk it pulls, handed out or skipped, goes to `see` once with its offset (the hash).
 */
export class RangeCursor {
  private it: AsyncIterator<Buffer> | undefined;
  /** Bytes pulled from the current pass. */
  private pulled = 0;
  /** The unused end of the last chunk pulled (a range ended inside it). */
  private rest: Buffer | undefined;

  constructor(
    private readonly open: () => AsyncIterable<Buffer>,
    /** The declared size; undefined when unknown (a stream, for one pass only). */
    private readonly size: number | undefined,
    private readonly see: (chunk: Buffer, pos: number) => void,
  ) {}

  /** The bytes `start`..`end` (`Infinity`: to the end). */
  async *range(start: number, end: number): AsyncGenerator<Buffer, void, undefined> {
    if (!this.it || start < this.pulled - (this.rest?.length ?? 0)) this.restart();
    while (this.pulled - (this.rest?.length ?? 0) < end) {
      let chunk = this.rest;
      this.rest = undefined;
      if (!chunk) {
        const r = await this.it!.next();
        if (r.done) {
          if (end === Number.POSITIVE_INFINITY && this.size === undefined) return;
          throw new SpeedyFilesError(`an upload transform made ${this.pulled} bytes, fewer than the ${this.size} it declared`);
        }
        chunk = r.value;
        this.see(chunk, this.pulled);
        this.pulled += chunk.length;
        if (this.size !== undefined && this.pulled > this.size) throw this.tooMany();
      }
      const at = this.pulled - chunk.length;
      if (this.pulled <= start) continue;
      if (at < start) chunk = chunk.subarray(start - at);
      const from = Math.max(at, start);
      if (this.pulled > end) {
        this.rest = chunk.subarray(end - from);
        chunk = chunk.subarray(0, end - from);
      }
      yield chunk;
    }
  }

  /** Checks that the pass has nothing beyond the declared size (pulls its end). */
  async end(): Promise<void> {
    if (!this.it) this.restart();
    if (this.rest?.length) throw this.tooMany();
    for (let r = await this.it!.next(); !r.done; r = await this.it!.next()) {
      if (r.value.length > 0) throw this.tooMany();
    }
  }

  /** Lets go of the current pass (closes the source). */
  close(): void {
    const it = this.it;
    this.it = undefined;
    void it?.return?.()?.catch(() => undefined);
  }

  private restart(): void {
    this.close();
    this.it = this.open()[Symbol.asyncIterator]();
    this.pulled = 0;
    this.rest = undefined;
  }

  private tooMany(): SpeedyFilesError {
    return new SpeedyFilesError(`an upload transform made more than the ${this.size} bytes it declared`);
  }
}
