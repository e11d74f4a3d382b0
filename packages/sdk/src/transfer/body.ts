import { Readable } from "node:stream";
import { SpeedyFilesError } from "../errors.js";
import { StreamHash } from "./hash.js";
import type { Source } from "./source.js";
import { applyAll, outputSize, RangeCursor, type UploadTransform } from "./transform.js";

/** The SHA-256 of what was sent, and of the source's bytes when a transform changed them. */
export interface UploadDigests {
  sha256: string;
  plaintextSha256?: string | undefined;
}

/**
 * What a transport sends: the source's bytes after the transforms, hashed on the way. Transports
 * ask for ranges of it, report each chunk they write (`sent`) and read the digests at the end.
 *
 * Without transforms a range is the source's own (a path's reused 1 MiB buffers straight to the
 * socket, nothing in between). With transforms, ranges come from one pass through them, started
 * again from the first byte only when a range goes back (see RangeCursor).
 */
export class UploadBody {
  readonly name: string;
  /** Bytes that will be sent, when known (a Readable without a known size: not). */
  readonly size: number | undefined;
  /** Whether any range can be read again: what a resumable upload needs. */
  readonly seekable: boolean;
  private readonly hash = new StreamHash();
  private readonly plain: StreamHash | undefined;
  private readonly cursor: RangeCursor | undefined;

  constructor(
    private readonly source: Source,
    transforms: readonly UploadTransform[] = [],
  ) {
    this.name = source.name;
    this.seekable = source.range !== undefined;
    this.size = source.size === undefined ? undefined : outputSize(transforms, source.size);
    if (transforms.length > 0) {
      const plain = (this.plain = new StreamHash());
      let opened = false;
      const input = (): AsyncIterable<Buffer> => {
        if (source.range) return source.range(0, source.size!);
        if (opened) throw new SpeedyFilesError(`${source.name}: a stream cannot be read twice`);
        opened = true;
        return source.stream!;
      };
      this.cursor = new RangeCursor(
        () => applyAll(transforms, tap(input(), plain)),
        this.size,
        (c, pos) => this.hash.see(c, pos),
      );
    }
  }

  /** The bytes `start`..`end` to send (`Infinity`: to the end); a Readable's only once, from 0. */
  range(start: number, end: number): AsyncIterable<Buffer> {
    if (this.cursor) return this.cursor.range(start, end);
    if (this.source.range) return this.source.range(start, Math.min(end, this.size!));
    if (start !== 0) throw new SpeedyFilesError(`${this.name}: a stream cannot be read from an offset`);
    return this.source.stream!;
  }

  /** A chunk of a range, starting at `pos`, went out: hashed once, in order. */
  sent(chunk: Buffer, pos: number): void {
    // Through transforms, the cursor hashes every chunk it pulls.
    if (!this.cursor) this.hash.see(chunk, pos);
  }

  /** Hashes the bytes up to `end` that no range has passed yet (a resumed upload's prefix). */
  async hashTo(end: number): Promise<void> {
    for (let pos = this.hash.hashed; pos < end; ) {
      for await (const c of this.range(pos, end)) {
        this.sent(c, pos);
        pos += c.length;
      }
      if (this.hash.hashed < end) throw new SpeedyFilesError(`${this.name}: could not read up to byte ${end}`);
    }
  }

  /** The digests, once every byte was sent (the rest is read if need be; transforms checked to end where they declared). */
  async digests(): Promise<UploadDigests> {
    if (this.size !== undefined) await this.hashTo(this.size);
    await this.cursor?.end();
    return { sha256: this.hash.digest(), ...(this.plain ? { plaintextSha256: this.plain.digest() } : {}) };
  }

  /** Lets go of the source: closes a file, destroys a Readable (also one never read). */
  dispose(): void {
    this.cursor?.close();
    if (this.source.stream instanceof Readable) this.source.stream.destroy();
  }
}

/** `input`, each chunk shown to `hash` with its offset on the way. */
async function* tap(input: AsyncIterable<Buffer>, hash: StreamHash): AsyncGenerator<Buffer, void, undefined> {
  let pos = 0;
  for await (const c of input) {
    hash.see(c, pos);
    pos += c.length;
    yield c;
  }
}
