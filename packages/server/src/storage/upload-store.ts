import { AsyncLocalStorage } from "node:async_hooks";
import crypto, { type Hash } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Readable as NodeReadable } from "node:stream";
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { FileStore } from "@tus/file-store";
import { DataStore, ERRORS, Upload } from "@tus/utils";
import type { Knex } from "knex";
import type { S3Config } from "../config.js";
import { addUploadChunk, deleteUploadChunks, findUploadById, uploadChunks } from "../db/uploads.js";
import type { BlobStore, StoredBlob } from "./blob-store.js";
import { s3Client } from "./s3.js";

/**
 * Where the bytes of unfinished resumable (tus) uploads live, chosen in one place
 * (`createUploadStore`): @tus/file-store under `<dataDir>/uploads` with local storage; with
 * `SF_STORAGE=s3`, chunk objects in the bucket (S3ChunkStore below), so that any server process
 * on any machine can take the next PATCH of an upload.
 *
 * The store given to @tus/server is wrapped so that the SHA-256 of an upload is computed while
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

/**
 * The request body of the tus request being handled, as the Node stream it arrives as. srvx hands
 * @tus/server the body as a web stream, which @tus/server turns back into a Node stream: at
 * 400 MB/s that round trip cost a sixth of the CPU in garbage collection alone. With the body
 * here (http/tus.ts sets it, and gives @tus/server an empty one), `write` reads the socket directly.
 */
export const directBody = new AsyncLocalStorage<{ body: Readable }>();

interface HashState {
  hash: Hash;
  bytes: number;
}

/** Hash states kept at most (an abandoned upload's state is dropped first; it is rebuilt if needed). */
const MAX_STATES = 10_000;

class HashingStore extends DataStore {
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
      source = direct.body.pipe(
        new Transform({
          transform(chunk: Buffer, _enc, done) {
            room -= chunk.length;
            if (room < 0) done(ERRORS.ERR_SIZE_EXCEEDED as unknown as Error);
            else done(null, chunk);
          },
        }),
      );
      direct.body.on("error", (err) => source.destroy(err));
      direct.body.on("aborted", () => source.destroy(new Error("the client went away")));
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
      const hash = crypto.createHash("sha256");
      const started = performance.now();
      for await (const chunk of this.readPrefix(id, offset)) hash.update(chunk as Buffer);
      this.stats.rebuiltBytes += offset;
      this.onRebuilt?.(id, offset, Math.round(performance.now() - started));
      state = { hash, bytes: offset };
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
}

/**
 * @tus/file-store, writing through a 1 MiB buffer: its own write stream keeps Node's 16 KiB
 * default, which held uploads to about two thirds of the multipart path (LocalBlobStore uses
 * 1 MiB for the same reason).
 */
class BufferedFileStore extends FileStore {
  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    const out = fs.createWriteStream(path.join(this.directory, id), { flags: "r+", start: offset, highWaterMark: WRITE_HWM });
    let received = 0;
    readable.on("data", (c: Buffer) => {
      received += c.length;
    });
    try {
      await pipeline(readable, out);
    } catch (err) {
      if (err === ERRORS.ERR_SIZE_EXCEEDED) throw err;
      throw ERRORS.FILE_WRITE_ERROR;
    }
    // (The offset is what `received` says: every chunk counted was written before the end.)
    return offset + received;
  }
}

const WRITE_HWM = 1024 * 1024;

/** tus on local disk: `<dataDir>/uploads/<id>` (bytes) and `<id>.json` (tus's own record). */
class LocalUploadStore implements UploadStore {
  readonly datastore: HashingStore;
  private readonly files: FileStore;
  readonly stats: { rebuiltBytes: number };

  constructor(
    private readonly dir: string,
    expiryMs: number,
    onRebuilt?: (id: string, bytes: number, ms: number) => void,
  ) {
    this.files = new BufferedFileStore({ directory: dir, expirationPeriodInMilliseconds: expiryMs });
    this.datastore = new HashingStore(
      this.files,
      (id, end) => fs.createReadStream(this.pathOf(id), { start: 0, end: end - 1, highWaterMark: 1024 * 1024 }),
      onRebuilt,
    );
    this.stats = this.datastore.stats;
  }

  private pathOf(id: string): string {
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error("invalid upload id");
    return path.join(this.dir, id);
  }

  async sha256(id: string, size: number): Promise<string> {
    const ready = this.datastore.takeDigest(id, size);
    if (ready) return ready;
    const hash = crypto.createHash("sha256");
    const started = performance.now();
    await pipeline(fs.createReadStream(this.pathOf(id), { highWaterMark: 1024 * 1024 }), hash);
    this.stats.rebuiltBytes += size;
    this.datastore.onRebuilt?.(id, size, Math.round(performance.now() - started));
    return hash.digest("hex");
  }

  async moveToBlobStore(id: string, blobs: BlobStore): Promise<StoredBlob> {
    const file = this.pathOf(id);
    // Same file system (both under the data dir): a rename, not a copy of the bytes.
    const blob = blobs.adopt ? await blobs.adopt(file) : await blobs.put(fs.createReadStream(file, { highWaterMark: 1024 * 1024 }));
    await this.remove(id);
    this.datastore.markFinished(id, blob.size);
    return blob;
  }

  async remove(id: string): Promise<void> {
    this.datastore.states.delete(id);
    await fsp.rm(this.pathOf(id), { force: true });
    await fsp.rm(`${this.pathOf(id)}.json`, { force: true });
  }
}

const MiB = 1024 * 1024;
/** The most bytes of a PATCH held in memory before they are stored as one chunk object. */
export const S3_CHUNK_BYTES = 8 * MiB;
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * tus on S3 without multipart uploads: each PATCH's bytes, cut into pieces of at most 8 MiB, are
 * objects `<SF_S3_PREFIX>tus/<upload id>/<offset, 16 digits>` (one PutObject each), and the
 * `upload_chunks` table records each piece once its object is complete. The offset is the sum
 * of the recorded pieces, in the database every process shares: a PATCH may reach any process,
 * and a process that dies mid-PATCH loses only the piece it was storing (its object, if any, is
 * overwritten by the resumed PATCH or removed with the upload). Memory: at most two pieces per
 * PATCH (one being stored while the next arrives), 16 MiB.
 *
 * (@tus/s3-store would use one multipart upload and learn the offset with ListParts; this one
 * needs only PutObject, GetObject, ListObjectsV2 and DeleteObject, which every S3-compatible
 * store, s3rver included, has.) The price is at the end: the pieces are read back and written
 * once more as the file's object (`moveToBlobStore`).
 */
class S3ChunkStore extends DataStore {
  constructor(
    readonly client: S3Client,
    private readonly config: S3Config,
    private readonly db: Knex,
    private readonly expiryMs: number,
  ) {
    super();
    this.extensions = ["creation", "creation-with-upload", "termination", "expiration"];
  }

  /** `<prefix>tus/<id>/`: where an upload's pieces are. */
  folder(id: string): string {
    if (!UPLOAD_ID.test(id)) throw new Error("invalid upload id");
    return `${this.config.prefix}tus/${id}/`;
  }

  private chunkKey(id: string, offset: number): string {
    return `${this.folder(id)}${String(offset).padStart(16, "0")}`;
  }

  /** Nothing to store: the `uploads` row was written by onUploadCreate, just before. */
  override async create(upload: Upload): Promise<Upload> {
    return upload;
  }

  override async getUpload(id: string): Promise<Upload> {
    if (!UPLOAD_ID.test(id)) throw ERRORS.FILE_NOT_FOUND;
    const row = await findUploadById(this.db, id);
    if (!row) throw ERRORS.FILE_NOT_FOUND;
    // Finished (by any process): all its bytes arrived; they are a file now. A last PATCH repeated
    // while another process was still adding the file then gets that file (services/uploads.ts).
    const offset = row.completed_at !== null ? row.size : (await uploadChunks(this.db, id)).reduce((n, c) => n + c.size, 0);
    // The metadata as the `uploads` row keeps it (HEAD shows it as Upload-Metadata).
    const metadata = { filename: row.name, content_type: row.content_type, ...(row.sha256 ? { sha256: row.sha256 } : {}) };
    return new Upload({ id, size: row.size, offset, metadata, creation_date: row.created_at, storage: { type: "s3", path: this.folder(id) } });
  }

  override getExpiration(): number {
    return this.expiryMs;
  }

  /** The sweeper removes expired uploads (services/uploads.ts). */
  override async deleteExpired(): Promise<number> {
    return 0;
  }

  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    let stored = offset;
    let parts: Buffer[] = [];
    let filled = 0;
    let storing: Promise<void> | undefined;
    const store = async (body: Buffer, at: number) => {
      const key = this.chunkKey(id, at);
      await this.client.send(
        new PutObjectCommand({ Bucket: this.config.bucket, Key: key, Body: body, ContentLength: body.length, ContentType: "application/octet-stream" }),
      );
      // Recorded only once the object is complete: the offset never counts bytes not stored.
      try {
        await addUploadChunk(this.db, id, { offset: at, size: body.length });
      } catch (err) {
        // The upload was removed meanwhile (its package deleted): its object goes too.
        await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key })).catch(() => undefined);
        throw err;
      }
      stored = at + body.length;
    };
    let queued = offset;
    const flush = async () => {
      // One piece stored at a time, in order; the next one fills meanwhile (16 MiB at most).
      await storing;
      const body = Buffer.concat(parts, filled);
      const at = queued;
      queued += filled;
      parts = [];
      filled = 0;
      storing = store(body, at);
      storing.catch(() => undefined);
    };
    let failure: unknown;
    try {
      for await (const c of readable) {
        let chunk = c as Buffer;
        while (chunk.length > 0) {
          const take = Math.min(S3_CHUNK_BYTES - filled, chunk.length);
          parts.push(take === chunk.length ? chunk : chunk.subarray(0, take));
          filled += take;
          chunk = chunk.subarray(take);
          if (filled === S3_CHUNK_BYTES) await flush();
        }
      }
    } catch (err) {
      // Over the upload's length (or a broken body): the bytes not yet stored are dropped.
      failure = err;
      parts = [];
      filled = 0;
    }
    if (filled > 0) await flush();
    await storing;
    if (failure !== undefined) throw failure;
    return stored;
  }

  /** Bytes `0`..`end - 1` of an unfinished upload (all recorded pieces without `end`), in order. */
  read(id: string, end?: number): Readable {
    const { client, db, config } = this;
    const folder = this.folder(id);
    async function* bytes(): AsyncGenerator<Buffer> {
      const chunks = await uploadChunks(db, id);
      let left = end ?? chunks.reduce((n, c) => n + c.size, 0);
      let at = 0;
      for (const c of chunks) {
        if (left <= 0) break;
        if (c.offset !== at) throw new Error(`upload ${id}: its pieces are not contiguous at ${at}`);
        const want = Math.min(c.size, left);
        const got = await client.send(
          new GetObjectCommand({
            Bucket: config.bucket,
            Key: `${folder}${String(c.offset).padStart(16, "0")}`,
            ...(want < c.size ? { Range: `bytes=0-${want - 1}` } : {}),
          }),
        );
        if (got.ContentLength !== want) {
          (got.Body as Readable | undefined)?.destroy();
          throw new Error(`upload ${id}: the piece at ${c.offset} has ${got.ContentLength} bytes, not ${want}`);
        }
        for await (const b of got.Body as Readable) yield b as Buffer;
        left -= want;
        at += c.size;
      }
      if (left > 0) throw new Error(`upload ${id}: ${left} bytes missing`);
    }
    return NodeReadable.from(bytes(), { objectMode: false, highWaterMark: MiB });
  }

  /** Removes every object under the upload's folder (recorded or not) and its records. */
  override async remove(id: string): Promise<void> {
    const folder = this.folder(id);
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: folder, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: o.Key! }));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    await deleteUploadChunks(this.db, id);
  }
}

/** tus on S3: pieces in the bucket, their records in `upload_chunks` (see S3ChunkStore). */
class S3UploadStore implements UploadStore {
  readonly datastore: HashingStore;
  readonly chunks: S3ChunkStore;
  readonly stats: { rebuiltBytes: number };

  constructor(config: S3Config, db: Knex, expiryMs: number, onRebuilt?: (id: string, bytes: number, ms: number) => void) {
    this.chunks = new S3ChunkStore(s3Client(config), config, db, expiryMs);
    this.datastore = new HashingStore(this.chunks, (id, end) => this.chunks.read(id, end), onRebuilt);
    this.stats = this.datastore.stats;
  }

  async sha256(id: string, size: number): Promise<string> {
    const ready = this.datastore.takeDigest(id, size);
    if (ready) return ready;
    const hash = crypto.createHash("sha256");
    const started = performance.now();
    await pipeline(this.chunks.read(id, size), hash);
    this.stats.rebuiltBytes += size;
    this.datastore.onRebuilt?.(id, size, Math.round(performance.now() - started));
    return hash.digest("hex");
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
