import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { InsufficientStorage } from "../errors.js";
import type { BlobStore, ListedBlob, Offload, StoredBlob } from "./blob-store.js";
import { deleteOrHold, releaseLeftovers } from "./deletion-hold.js";
import { ProcessTempFolder, removeAbandoned } from "./temp-folders.js";

/** 1 MiB write buffer: ~580 MB/s vs ~370 MB/s with the 16 KiB default (measured on these machines). */
const WRITE_HWM = 1024 * 1024;
/** 1 MiB read chunks for streams (64 KiB is several times slower on loopback). */
const READ_HWM = 1024 * 1024;
/** The two buffers of sendTo. */
const SEND_CHUNK = 2 * 1024 * 1024;
/** errno codes meaning "no room": full disk, quota exceeded, file larger than the file system allows. */
const OUT_OF_SPACE = new Set(["ENOSPC", "EDQUOT", "EFBIG"]);
const KEY_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The store's marker (see BlobStore.readMarker), in `blobs/`. */
export const MARKER_NAME = ".speedyfiles-store";

/**
 * Blobs on local disk under `<dataDir>/blobs/<2 hex>/<uuid>`. Each upload goes to
 * `<dataDir>/tmp/<this process's folder>/<uuid>.part`, is fsynced, then renamed into place, so a
 * crash or an aborted upload never leaves a partial blob where a reader could see it, and what a
 * crash leaves in its folder goes with the folder (temp-folders.ts).
 */
export class LocalBlobStore implements BlobStore {
  private readonly blobDir: string;
  private readonly tmpRoot: string;
  private temp: ProcessTempFolder | undefined;

  /**
   * `accelRedirect` (SF_ACCEL_REDIRECT): the URI prefix of an nginx `internal` location whose
   * alias is `<dataDir>/blobs/`; downloads are then sent by nginx.
   */
  constructor(
    private readonly dataDir: string,
    private readonly opts: { accelRedirect?: string | null } = {},
  ) {
    this.blobDir = path.join(dataDir, "blobs");
    this.tmpRoot = path.join(dataDir, "tmp");
  }

  /** This process's temp folder (made by init). */
  private get tmpDir(): string {
    if (!this.temp) throw new Error("LocalBlobStore: init() was not called");
    return this.temp.dir;
  }

  /** The blob's path under `<dataDir>/blobs/`: `<first 2 characters>/<key>`. */
  relativePath(key: string): string {
    if (!KEY_PATTERN.test(key)) throw new Error("invalid storage key");
    return `${key.slice(0, 2)}/${key}`;
  }

  /** Where a blob's bytes are (for `storage migrate`). */
  filePath(key: string): string {
    return this.pathOf(key);
  }

  /** With SF_ACCEL_REDIRECT: nginx sends the file from its internal location. */
  async offload(key: string): Promise<Offload | undefined> {
    if (!this.opts.accelRedirect) return undefined;
    return { accelRedirect: `${this.opts.accelRedirect}${this.relativePath(key)}` };
  }

  /**
   * Creates the folders, this process's temp folder among them, and removes the temp folders of
   * processes that are gone (a previous crash of this one, or of another sharing the data dir).
   */
  async init(): Promise<void> {
    await fsp.mkdir(this.blobDir, { recursive: true });
    this.temp ??= await ProcessTempFolder.create(this.tmpRoot);
    await this.removeStaleTemp();
  }

  /**
   * Removes the temp folders whose process is gone, with the partial uploads in them: never the
   * folder of a live process, which may be receiving uploads right now (see temp-folders.ts for
   * how an owner is judged gone). Run at start and by the sweeper.
   */
  async removeStaleTemp(): Promise<number> {
    // And what a backup that ended without releasing its hold left moved aside (deletion-hold.ts).
    await releaseLeftovers(this.dataDir);
    return removeAbandoned(this.tmpRoot, this.temp?.dir);
  }

  /** Stops the temp folder's heartbeat and removes the folder: nothing is being written any more. */
  close(): void {
    this.temp?.close();
  }

  /** The 256 prefix folders, once each made (or found) by this process. */
  private readonly madeDirs = new Set<string>();

  /** Renames a written file into its place, making its folder when this process has not yet. */
  private async moveInto(file: string, final: string): Promise<void> {
    const dir = path.dirname(final);
    if (!this.madeDirs.has(dir)) {
      await fsp.mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    await fsp.rename(file, final).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
      // The folder went away meanwhile (removed by hand): make it again, once.
      this.madeDirs.delete(dir);
      await fsp.mkdir(dir, { recursive: true });
      await fsp.rename(file, final);
    });
  }

  private pathOf(key: string): string {
    if (!KEY_PATTERN.test(key)) throw new Error("invalid storage key");
    return path.join(this.blobDir, key.slice(0, 2), key);
  }

  async put(source: Readable): Promise<StoredBlob> {
    const key = crypto.randomUUID();
    const tmp = path.join(this.tmpDir, `${key}.part`);
    const out = fs.createWriteStream(tmp, { highWaterMark: WRITE_HWM, flags: "wx" });
    let size = 0;
    source.on("data", (chunk: Buffer) => {
      size += chunk.length;
    });
    try {
      await pipeline(source, out);
      // fsync only what is kept (the write stream's own `flush` would also fsync a failed or
      // refused upload's partial file on its way to being deleted).
      const fh = await fsp.open(tmp, "r+");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.moveInto(tmp, this.pathOf(key));
      return { key, size };
    } catch (err) {
      out.destroy();
      // A write stream destroyed before its file was opened still opens (and so creates) it, then
      // closes it: remove the temp file only after that, or an empty .part is left behind.
      if (!out.closed) await new Promise<void>((resolve) => out.once("close", () => resolve()));
      await fsp.rm(tmp, { force: true });
      if (OUT_OF_SPACE.has((err as NodeJS.ErrnoException).code ?? "")) throw new InsufficientStorage();
      throw err;
    }
  }

  async adopt(file: string): Promise<StoredBlob> {
    const key = crypto.randomUUID();
    const fh = await fsp.open(file, "r+");
    let size: number;
    try {
      // Dated now: the file's mtime is its last PATCH, maybe long before this finish, and a blob's
      // age is what the orphan sweep goes by (its commit is on its way from now on).
      const now = new Date();
      await fh.utimes(now, now);
      await fh.sync();
      size = (await fh.stat()).size;
    } finally {
      await fh.close();
    }
    await this.moveInto(file, this.pathOf(key));
    return { key, size };
  }

  /**
   * A download without garbage: two fixed buffers take turns, one being read from the file while
   * the other is written to the socket, and a buffer is filled again only when its write has
   * completed. Piping a read stream instead allocates a fresh buffer for every chunk, and the
   * garbage collection of that external memory held a download to about the speed of a bare Node
   * read stream, 0.8× nginx's sendfile.
   */
  async sendTo(key: string, range: { start: number; end: number } | undefined, out: Writable): Promise<void> {
    const fh = await fsp.open(this.pathOf(key), "r");
    try {
      const start = range?.start ?? 0;
      const end = range?.end ?? (await fh.stat()).size - 1;
      const buffers = [Buffer.allocUnsafeSlow(SEND_CHUNK), Buffer.allocUnsafeSlow(SEND_CHUNK)];
      const writes: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
      let closed = false;
      const onClose = () => (closed = true);
      out.once("close", onClose);
      try {
        for (let pos = start, turn = 0; pos <= end; turn ^= 1) {
          await writes[turn];
          if (closed || out.destroyed) throw new Error("the client went away");
          const buf = buffers[turn]!;
          const { bytesRead } = await fh.read(buf, 0, Math.min(SEND_CHUNK, end - pos + 1), pos);
          if (bytesRead === 0) throw new Error("the stored file is shorter than its record");
          pos += bytesRead;
          const write = new Promise<void>((resolve, reject) => {
            out.write(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead), (err) => (err ? reject(err) : resolve()));
          });
          // When the client goes away both writes in flight fail, and the loop stops at the first:
          // the other's failure is expected, not an unhandled rejection.
          write.catch(() => {});
          writes[turn] = write;
        }
        await Promise.all(writes);
      } finally {
        out.off("close", onClose);
      }
    } finally {
      await fh.close();
    }
  }

  read(key: string, range?: { start: number; end: number }): Readable {
    return fs.createReadStream(this.pathOf(key), { highWaterMark: READ_HWM, ...(range ?? {}) });
  }

  /** Removes the blob; while a backup runs, moves it aside for the backup (deletion-hold.ts). */
  async delete(key: string): Promise<void> {
    await deleteOrHold(this.dataDir, key, this.pathOf(key));
  }

  get markerLocation(): string {
    return path.join(this.blobDir, MARKER_NAME);
  }

  async readMarker(): Promise<string | undefined> {
    try {
      return await fsp.readFile(this.markerLocation, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async writeMarker(content: string): Promise<void> {
    // "wx": never over another's marker, written meanwhile by a process of another database.
    await fsp.writeFile(this.markerLocation, content, { flag: "wx" }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
  }

  /** Walks `blobs/<2 hex>/`, one directory entry at a time, with each file's mtime. */
  async *listBlobs(): AsyncIterable<ListedBlob> {
    for await (const prefix of await fsp.opendir(this.blobDir)) {
      if (!prefix.isDirectory() || !/^[0-9a-f]{2}$/.test(prefix.name)) continue;
      const dir = path.join(this.blobDir, prefix.name);
      for await (const e of await fsp.opendir(dir)) {
        if (!e.isFile() || !KEY_PATTERN.test(e.name) || !e.name.startsWith(prefix.name)) continue;
        // Gone meanwhile (deleted by a request): nothing to list.
        const stat = await fsp.stat(path.join(dir, e.name)).catch(() => undefined);
        if (stat) yield { key: e.name, modifiedAt: stat.mtime };
      }
    }
  }

  async check(): Promise<void> {
    await fsp.access(this.blobDir, fs.constants.W_OK);
    await fsp.access(this.tmpDir, fs.constants.W_OK);
  }
}
