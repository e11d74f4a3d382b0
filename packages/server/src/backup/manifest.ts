import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { fsyncDir } from "./copy.js";

export const MANIFEST = "manifest.json";
export const FORMAT = "speedyfiles-backup";
export const FORMAT_VERSION = 1;

/** A file of the backup folder with its size and SHA-256. */
export interface FileEntry {
  /** Relative to the backup folder. */
  file: string;
  size: number;
  sha256: string;
}

/** A stored blob a row of the snapshot refers to. */
export interface BlobEntry {
  key: string;
  size: number;
  sha256: string;
}

/** A blob the snapshot refers to that the backup could not take (the backup then exits 1). */
export interface MissingBlob {
  key: string;
  file_id: string;
  package_id: string;
  size: number;
  reason: string;
}

/**
 * `<backup>/manifest.json`, written last: a folder without it is not a finished backup. `blobs`
 * lists every stored blob the database snapshot refers to (files of purged packages have none);
 * with local storage each is in `blobs/<2 hex>/<key>` beside it, with S3 it stays in the bucket.
 */
export interface Manifest {
  format: typeof FORMAT;
  format_version: number;
  server_version: string;
  created_at: string;
  /** The database's `instance_meta.instance_id` (the blob store's marker names it too). */
  instance_id: string;
  database: FileEntry & { kind: "sqlite" | "postgres" };
  storage: { kind: "local" } | { kind: "s3"; bucket: string; prefix: string };
  /** `<dataDir>/secret.key` (the key sealing queued mail) when the server uses one; never printed. */
  secret_key: FileEntry | null;
  /** The local store's marker (`blobs/.speedyfiles-store`) when there is one. */
  marker: FileEntry | null;
  /** File rows whose bytes must be stored, and the distinct blobs they use. */
  file_count: number;
  blob_count: number;
  blob_bytes: number;
  missing: MissingBlob[];
  blobs: BlobEntry[];
}

/** Not a finished backup of ours, or one this version cannot read. */
export class ManifestError extends Error {}

const SHA256 = /^[0-9a-f]{64}$/;
const KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The only file names a manifest may point at (never a path out of the backup folder). */
const ENTRY_FILE = /^(database\.sqlite|database\.pgdump|secret\.key|blobs\/\.speedyfiles-store)$/;

function checkEntry(e: unknown, what: string): FileEntry {
  const x = e as Partial<FileEntry> | null;
  if (!x || typeof x.file !== "string" || !ENTRY_FILE.test(x.file) || !Number.isSafeInteger(x.size) || (x.size as number) < 0 || !SHA256.test(String(x.sha256))) {
    throw new ManifestError(`the manifest's ${what} entry is damaged`);
  }
  return x as FileEntry;
}

/** Reads and checks `<dir>/manifest.json`. */
export async function readManifest(dir: string): Promise<Manifest> {
  let text: string;
  try {
    text = await fsp.readFile(path.join(dir, MANIFEST), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new ManifestError(`${dir} holds no ${MANIFEST}: it is not a finished backup (a backup writes its manifest last)`);
    }
    throw err;
  }
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch {
    throw new ManifestError(`${path.join(dir, MANIFEST)} is not valid JSON`);
  }
  if (m?.format !== FORMAT) throw new ManifestError(`${path.join(dir, MANIFEST)} is not a SpeedyFiles backup manifest`);
  if (m.format_version !== FORMAT_VERSION) {
    throw new ManifestError(
      `the backup has format version ${String(m.format_version)}; this server reads version ${FORMAT_VERSION}: restore it with the server version that wrote it (${String(m.server_version)})`,
    );
  }
  checkEntry(m.database, "database");
  if (m.database.kind !== "sqlite" && m.database.kind !== "postgres") throw new ManifestError("the manifest's database kind is unknown");
  if (m.secret_key !== null) checkEntry(m.secret_key, "secret key");
  if (m.marker !== null) checkEntry(m.marker, "marker");
  if (m.storage?.kind !== "local" && m.storage?.kind !== "s3") throw new ManifestError("the manifest's storage kind is unknown");
  if (!Array.isArray(m.blobs) || !Array.isArray(m.missing)) throw new ManifestError("the manifest's blob list is damaged");
  for (const b of m.blobs) {
    if (!KEY.test(String(b?.key)) || !Number.isSafeInteger(b.size) || b.size < 0 || !SHA256.test(String(b.sha256))) {
      throw new ManifestError("the manifest's blob list is damaged");
    }
  }
  return m;
}

/**
 * Writes the manifest (through a temp name, fsynced, renamed, the folder fsynced): the last step of
 * a backup. The blob list is written an entry a line, from `blobLines` (JSON texts), never as one
 * string.
 */
export async function writeManifest(dir: string, head: Omit<Manifest, "blobs">, blobLines: AsyncIterable<string>): Promise<void> {
  const tmp = path.join(dir, `${MANIFEST}.part`);
  const out = fs.createWriteStream(tmp, { mode: 0o600 });
  const write = (s: string) => new Promise<void>((resolve, reject) => out.write(s, (err) => (err ? reject(err) : resolve())));
  const headText = JSON.stringify(head, null, 2);
  await write(`${headText.slice(0, -2)},\n  "blobs": [`);
  let first = true;
  for await (const line of blobLines) {
    await write(`${first ? "" : ","}\n    ${line}`);
    first = false;
  }
  await write(`${first ? "" : "\n  "}]\n}\n`);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  const fh = await fsp.open(tmp, "r+");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path.join(dir, MANIFEST));
  await fsyncDir(dir);
}
