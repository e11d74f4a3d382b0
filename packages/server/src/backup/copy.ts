import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

const MiB = 1024 * 1024;

export interface Hashed {
  size: number;
  sha256: string;
}

/** Counts and hashes what passes through. */
function hasher(): { through: Transform; result: () => Hashed } {
  const hash = crypto.createHash("sha256");
  let size = 0;
  const through = new Transform({
    highWaterMark: MiB,
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  return { through, result: () => ({ size, sha256: hash.digest("hex") }) };
}

/** A file's bytes, 1 MiB at a time (an open handle stays open: its opener closes it). */
export function readFile(file: string | fsp.FileHandle): Readable {
  return typeof file === "string" ? fs.createReadStream(file, { highWaterMark: MiB }) : file.createReadStream({ highWaterMark: MiB, autoClose: false, start: 0 });
}

/**
 * Writes `source` to `dest`, hashing on the way: first to `<dest>.part`, then fsynced and renamed,
 * so `dest` never holds part of a copy. A failure removes the part file.
 */
export async function copyHashed(source: Readable, dest: string, mode = 0o600): Promise<Hashed> {
  await fsp.mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
  const part = `${dest}.part`;
  const { through, result } = hasher();
  try {
    await pipeline(source, through, fs.createWriteStream(part, { flags: "w", mode, highWaterMark: MiB }));
    const fh = await fsp.open(part, "r+");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(part, dest);
  } catch (err) {
    source.destroy();
    await fsp.rm(part, { force: true });
    throw err;
  }
  return result();
}

/** The size and SHA-256 of a stream's bytes. */
export async function hashStream(source: Readable): Promise<Hashed> {
  const { through, result } = hasher();
  await pipeline(source, through, async (chunks: AsyncIterable<Buffer>) => {
    for await (const _ of chunks);
  });
  return result();
}

/** fsync of a folder: the names created or renamed in it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Whether `p` exists. */
export async function exists(p: string): Promise<boolean> {
  return fsp.lstat(p).then(
    () => true,
    () => false,
  );
}

/** The entries of a folder; none when it does not exist. */
export async function entriesOf(dir: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}
