import crypto, { type Hash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import { DataStore, ERRORS, Upload } from "@tus/utils";
import { sha256Of } from "./sha256.js";
import { directBody } from "./tus-direct-body.js";

interface HashState {
  hash: Hash;
  bytes: number;
}

/** Hash states kept at most (an abandoned upload's state is dropped first; it is rebuilt if needed). */
const MAX_STATES = 10_000;

/**
 * The store handed to @tus/server: it wraps the real one (local or S3) and computes each upload's
 * SHA-256 while its bytes arrive (see upload-store.ts).
 */
export class HashingStore extends DataStore {
  readonly states = new Map<string, HashState>();
  readonly stats = { rebuiltBytes: 0 };

  constructor(
    readonly inner: DataStore,
    /** The stored prefix of an unfinished upload, when the store can read it. */
    private readonly readPrefix: ((id: string, end: number) => Readable) | undefined,
    /** Told each time a hash state is rebuilt from stored bytes (the log shows the cost). */
    readonly onRebuilt?: (id: string, bytes: number, ms: number) => void,
  ) {
    super();
    // Deferred lengths are refused (limits are checked at creation): not advertised.
    this.extensions = inner.extensions.filter((e) => e !== "creation-defer-length");
  }

  override create(file: Upload): Promise<Upload> {
    this.states.delete(file.id);
    return this.inner.create(file);
  }
  override async remove(id: string): Promise<void> {
    this.states.delete(id);
    await this.inner.remove(id);
  }
  /**
   * Uploads whose bytes just became a file: @tus/server looks a creation-with-upload up once more
   * after its finish hook (for Upload-Expires), and must find it complete rather than missing.
   */
  readonly finished = new Map<string, Upload>();

  override async getUpload(id: string): Promise<Upload> {
    const done = this.finished.get(id);
    return done ?? this.inner.getUpload(id);
  }

  markFinished(id: string, size: number): void {
    this.finished.set(id, new Upload({ id, size, offset: size }));
    setTimeout(() => this.finished.delete(id), 60_000).unref();
  }
  override declareUploadLength(id: string, length: number): Promise<void> {
    return this.inner.declareUploadLength(id, length);
  }
  override deleteExpired(): Promise<number> {
    return this.inner.deleteExpired();
  }
  override getExpiration(): number {
    return this.inner.getExpiration();
  }

  override async write(given: Readable, id: string, offset: number): Promise<number> {
    let source = given;
    const direct = directBody.getStore();
    if (direct) {
      given.resume();
      // What @tus/server's StreamLimiter did for its own stream: never more than the upload's length.
      const upload = await this.inner.getUpload(id);
      // Already complete (a last PATCH repeated): nothing to store or hash; the finish answers the file.
      if (upload.size !== undefined && upload.offset >= upload.size) {
        if (Number((direct.body as { headers?: Record<string, unknown> }).headers?.["content-length"] ?? 0) > 0) throw ERRORS.ERR_SIZE_EXCEEDED;
        return upload.offset;
      }
      let room = (upload.size ?? 0) - offset;
      const limited = new Transform({
        transform(chunk: Buffer, _enc, done) {
          room -= chunk.length;
          if (room < 0) return done(ERRORS.ERR_SIZE_EXCEEDED as unknown as Error);
          direct.onBytes(chunk.length);
          done(null, chunk);
        },
      });
      source = direct.body.pipe(limited);
      direct.body.on("error", (err) => source.destroy(err));
      direct.body.on("aborted", () => source.destroy(new Error("the client went away")));
      // Another request of the upload wants its lock: the write ends with what has arrived.
      direct.whenReleased(() => {
        direct.body.unpipe(limited);
        limited.end();
      });
    }
    const state = await this.stateAt(id, offset);
    let counted = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        state?.hash.update(chunk);
        counted += chunk.length;
        done(null, chunk);
      },
    });
    // A client that goes away ends the write where it stopped: what arrived is stored and hashed,
    // and the hash state stays good (no re-read of the upload on its next PATCH). Only a body
    // over the upload's length is an error.
    source.on("error", (err) => (err === (ERRORS.ERR_SIZE_EXCEEDED as unknown) ? tap.destroy(err) : tap.end()));
    try {
      const next = await this.inner.write(source.pipe(tap), id, offset);
      if (state && next === offset + counted) {
        state.bytes = next;
      } else {
        this.states.delete(id);
      }
      return next;
    } catch (err) {
      // What reached the store is unknown: the next write rebuilds from the stored bytes.
      this.states.delete(id);
      throw err;
    }
  }

  /** The hash state of the first `offset` bytes, rebuilt from the store when missing; undefined if it cannot be. */
  private async stateAt(id: string, offset: number): Promise<HashState | undefined> {
    const known = this.states.get(id);
    if (known && known.bytes === offset) {
      // Most recently used last, so the oldest is dropped first when the map is full.
      this.states.delete(id);
      this.states.set(id, known);
      return known;
    }
    this.states.delete(id);
    let state: HashState | undefined;
    if (offset === 0) {
      state = { hash: crypto.createHash("sha256"), bytes: 0 };
    } else if (this.readPrefix) {
      state = { hash: await this.rehash(id, offset, this.readPrefix), bytes: offset };
    }
    if (state) {
      if (this.states.size >= MAX_STATES) this.states.delete(this.states.keys().next().value!);
      this.states.set(id, state);
    }
    return state;
  }

  /** The digest when the state covers all `size` bytes (and forgets the state). */
  takeDigest(id: string, size: number): string | undefined {
    const s = this.states.get(id);
    this.states.delete(id);
    return s && s.bytes === size ? s.hash.digest("hex") : undefined;
  }

  /**
   * The SHA-256 (hex) of a finished upload's `size` bytes: the state that followed its writes, or
   * else (after a restart) its stored bytes, read and hashed once.
   */
  async sha256(id: string, size: number): Promise<string> {
    const ready = this.takeDigest(id, size);
    if (ready) return ready;
    if (!this.readPrefix) throw new Error("this store cannot read an upload's bytes back");
    return (await this.rehash(id, size, this.readPrefix)).digest("hex");
  }

  /** Hashes the first `end` stored bytes again (counted in `stats` and told to `onRebuilt`). */
  private async rehash(id: string, end: number, read: (id: string, end: number) => Readable): Promise<Hash> {
    const started = performance.now();
    const hash = await sha256Of(read(id, end));
    this.stats.rebuiltBytes += end;
    this.onRebuilt?.(id, end, Math.round(performance.now() - started));
    return hash;
  }
}
