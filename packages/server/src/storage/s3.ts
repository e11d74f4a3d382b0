import crypto from "node:crypto";
import { PassThrough, Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  NotFound as S3NotFound,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { S3Config } from "../config.js";
import type { BlobStore, ListedBlob, Offload, OffloadAs, StoredBlob } from "./blob-store.js";

const MiB = 1024 * 1024;
/** S3 allows at most 10,000 parts per upload. */
export const MAX_PARTS = 10_000;
/** The smallest part (8 MiB) and the largest we hold in memory (64 MiB). */
const MIN_PART = 8 * MiB;
export const MAX_PART = 64 * MiB;

/**
 * Part size and parts in flight for files up to `maxFileBytes`: 8 MiB parts, 4 at once, up to
 * 80 GiB; larger parts (at most 64 MiB, 2 at once) for larger limits. Memory per upload is about
 * (queue size + 1) × part size: 40 MiB by default, 192 MiB at most.
 */
export function partPlan(maxFileBytes: number): { partSize: number; queueSize: number } {
  const partSize = Math.min(MAX_PART, Math.max(MIN_PART, Math.ceil(maxFileBytes / MAX_PARTS / MiB) * MiB));
  return { partSize, queueSize: partSize > MIN_PART * 2 ? 2 : 4 };
}
const KEY_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The store's marker (see BlobStore.readMarker): `<SF_S3_PREFIX>.speedyfiles-store`. */
const MARKER_NAME = ".speedyfiles-store";

/** The client for a configured bucket (also used by `storage migrate`). */
export function s3Client(c: S3Config): S3Client {
  const config: S3ClientConfig = {
    region: c.region,
    forcePathStyle: c.forcePathStyle,
    // The SDK's newer default adds CRC32 checksums with aws-chunked bodies, which several
    // S3-compatible stores refuse: checksums only where the API requires them. Our own SHA-256
    // covers the bytes end to end.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // A store that is down must fail an upload or /health within seconds, not hang.
    maxAttempts: 3,
  };
  if (c.endpoint) config.endpoint = c.endpoint;
  if (c.accessKeyId && c.secretAccessKey) config.credentials = { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey };
  return new S3Client(config);
}

/**
 * Blobs as objects `<SF_S3_PREFIX><uuid>` in an S3-compatible bucket. Uploads stream through
 * `@aws-sdk/lib-storage` (a single PutObject below one part, multipart above) with a bounded
 * number of parts in memory (partPlan); an upload whose source fails is aborted (no object, no incomplete
 * multipart upload) before `put` rejects.
 */
export class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  private readonly plan: { partSize: number; queueSize: number };

  constructor(
    private readonly config: S3Config,
    opts: { maxFileBytes: number },
  ) {
    this.client = s3Client(config);
    this.plan = partPlan(opts.maxFileBytes);
  }

  /** The object key of a storage key. */
  objectKey(key: string): string {
    if (!KEY_PATTERN.test(key)) throw new Error("invalid storage key");
    return `${this.config.prefix}${key}`;
  }

  put(source: Readable): Promise<StoredBlob> {
    return this.putAs(crypto.randomUUID(), source);
  }

  /**
   * Writes `source` to the object of `key` (a new key for uploads; the existing one for
   * `storage migrate`), with optional user metadata. Rejects, leaving nothing behind, if `source`
   * or the store fails.
   */
  async putAs(key: string, source: Readable, metadata?: Record<string, string>, signal?: AbortSignal): Promise<StoredBlob> {
    signal?.throwIfAborted();
    let size = 0;
    const counter = new Transform({
      highWaterMark: MiB,
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        cb(null, chunk);
      },
    });
    const upload = new Upload({
      client: this.client,
      queueSize: this.plan.queueSize,
      partSize: this.plan.partSize,
      leavePartsOnError: false,
      params: {
        Bucket: this.config.bucket,
        Key: this.objectKey(key),
        Body: counter,
        ContentType: "application/octet-stream",
        ...(metadata ? { Metadata: metadata } : {}),
      },
    });
    // Both run at once: the source feeds the counter, the upload drains it. A source error
    // destroys the counter, which fails the upload (lib-storage then aborts the multipart upload
    // and waits for that before done() rejects). An upload error must stop the source too, with
    // an error that has a `code`, so a caller can tell a store failure from a broken body.
    const feeding = pipeline(source, counter);
    const uploading = upload.done();
    // Stopped from outside (storage migrate's Ctrl-C): lib-storage's abort() rejects done() at once.
    const onAbort = () => void upload.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const [fed, uploaded] = await Promise.allSettled([
      feeding,
      uploading.catch((err: unknown) => {
        const e = Object.assign(new Error(`object store: ${(err as Error)?.message ?? String(err)}`), { code: "ESTORAGE", cause: err });
        if (!counter.destroyed) counter.destroy(e);
        if (!source.destroyed) source.destroy(e);
        throw e;
      }),
    ]);
    signal?.removeEventListener("abort", onAbort);
    if (signal?.aborted && uploaded.status === "rejected") {
      // abort() does not wait for lib-storage to abort the multipart upload (it does so only once
      // the parts in flight have settled): ask for it here, before the process goes. If the
      // CreateMultipartUpload answer is still on its way, its upload id is waited for.
      const internals = upload as unknown as { uploadId?: string; createMultiPartPromise?: Promise<{ UploadId?: string }> };
      const uploadId = internals.uploadId ?? (await internals.createMultiPartPromise?.catch(() => undefined))?.UploadId;
      if (uploadId) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.config.bucket, Key: this.objectKey(key), UploadId: uploadId })).catch(() => undefined);
      }
    }
    if (fed.status === "rejected" || uploaded.status === "rejected") {
      // A source that failed after its last byte went into the last part can no longer stop the
      // upload: then the object exists and is removed here.
      if (uploaded.status === "fulfilled") await this.delete(key).catch(() => undefined);
      // The source's failure is the cause (the client went away, a limit, a checksum); the
      // upload's own error then only says it stopped.
      throw fed.status === "rejected" ? fed.reason : (uploaded as PromiseRejectedResult).reason;
    }
    return { key, size };
  }

  read(key: string, range?: { start: number; end: number }): Readable {
    const out = new PassThrough({ highWaterMark: MiB });
    void (async () => {
      const got = await this.client.send(
        new GetObjectCommand({
          Bucket: this.config.bucket,
          Key: this.objectKey(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      if (out.destroyed) {
        (got.Body as Readable | undefined)?.destroy();
        return;
      }
      // A reader that stops early (the client went away) destroys `out`, which ends the GET.
      await pipeline(got.Body as Readable, out);
    })().catch((err: unknown) => {
      if (!out.destroyed) out.destroy(err as Error);
    });
    return out;
  }

  /** Size and our `sha256` metadata (set by `storage migrate`) of an object; undefined when absent. */
  async head(key: string): Promise<{ size: number; sha256: string | undefined } | undefined> {
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }));
      return { size: h.ContentLength ?? -1, sha256: h.Metadata?.sha256 };
    } catch (err) {
      if (err instanceof S3NotFound || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    // Deleting an absent object succeeds: a retried delete is harmless.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.objectKey(key) }));
  }

  get markerLocation(): string {
    return `s3://${this.config.bucket}/${this.config.prefix}${MARKER_NAME}`;
  }

  async readMarker(): Promise<string | undefined> {
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: `${this.config.prefix}${MARKER_NAME}` }));
      return (await got.Body?.transformToString("utf8")) ?? "";
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404) return undefined;
      throw err;
    }
  }

  /**
   * Not conditional (If-None-Match is not offered by every S3-compatible store): two databases
   * writing at the same moment are told apart by the caller reading the marker back.
   */
  async writeMarker(content: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.config.bucket, Key: `${this.config.prefix}${MARKER_NAME}`, Body: content, ContentType: "application/json" }));
  }

  /**
   * ListObjectsV2 under the prefix, a page (up to 1,000 keys) at a time, with each object's
   * LastModified. The `/` delimiter leaves out what sits in folders under the prefix (the pieces of
   * resumable uploads, `<prefix>tus/…`), and only keys of our form are listed.
   */
  async *listBlobs(opts: { pageSize?: number } = {}): AsyncIterable<ListedBlob> {
    const prefix = this.config.prefix;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: prefix, Delimiter: "/", ContinuationToken: token, MaxKeys: opts.pageSize }),
      );
      for (const o of page.Contents ?? []) {
        const key = o.Key?.slice(prefix.length);
        if (key && KEY_PATTERN.test(key) && o.LastModified) yield { key, modifiedAt: o.LastModified };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** HeadBucket; its failure said in words ("bucket x does not exist"), not the SDK's `UnknownError` for a bodiless 404. */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }));
    } catch (err) {
      const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      const bucket = this.config.bucket;
      if (status === 404 || e.name === "NotFound" || e.name === "NoSuchBucket") throw new Error(`bucket ${bucket} does not exist`, { cause: err });
      if (status === 403) throw new Error(`access to bucket ${bucket} is denied (check SF_S3_ACCESS_KEY_ID / SF_S3_SECRET_ACCESS_KEY and the bucket's policy)`, { cause: err });
      if (status === 301) throw new Error(`bucket ${bucket} is in another region than SF_S3_REGION`, { cause: err });
      throw err;
    }
  }

  /** With SF_S3_PRESIGN_DOWNLOADS: a presigned GET URL whose answer is the attachment. */
  async offload(key: string, as: OffloadAs): Promise<Offload | undefined> {
    if (!this.config.presignDownloads) return undefined;
    const url = await getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: this.config.bucket,
        Key: this.objectKey(key),
        ResponseContentDisposition: as.contentDisposition,
        ResponseContentType: as.contentType,
        ResponseCacheControl: "private, no-store",
      }),
      { expiresIn: this.config.presignSeconds },
    );
    return { location: url };
  }

  close(): void {
    this.client.destroy();
  }
}
