import { Readable as NodeReadable, type Readable } from "node:stream";
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { DataStore, ERRORS, Upload } from "@tus/utils";
import type { Knex } from "knex";
import type { S3Config } from "../config.js";
import { addUploadChunk, deleteUploadChunks, findUploadById, uploadChunks } from "../db/uploads.js";

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
export class S3ChunkStore extends DataStore {
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
      await this.client.send(new PutObjectCommand({ Bucket: this.config.bucket, Key: key, Body: body, ContentLength: body.length, ContentType: "application/octet-stream" }));
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
