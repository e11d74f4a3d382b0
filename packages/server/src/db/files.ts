import type { Knex } from "knex";
import { nameKey } from "../util/name-key.js";
import { escapeLike } from "./users.js";

export interface FileRow {
  id: string;
  package_id: string;
  name: string;
  size: number;
  sha256: string;
  content_type: string;
  storage_key: string;
  created_at: string;
  /** A file of an encrypted package: its sealed manifest entry (base64 of an age file); null otherwise. */
  sealed: string | null;
}

const toFile = (r: FileRow): FileRow => ({ ...r, size: Number(r.size) });
const FILE_COLUMNS = ["id", "package_id", "name", "size", "sha256", "content_type", "storage_key", "created_at", "sealed"];

export async function insertFile(db: Knex, row: FileRow): Promise<void> {
  await db("files").insert({ ...row, name_key: nameKey(row.name) });
  await db("packages").where({ id: row.package_id }).increment({ file_count: 1, total_size: row.size });
}

export async function listFiles(db: Knex, packageId: string): Promise<FileRow[]> {
  const rows = await db<FileRow>("files")
    .where({ package_id: packageId })
    .orderBy([{ column: "created_at" }, { column: "name" }, { column: "id" }])
    .select<FileRow[]>(FILE_COLUMNS);
  return rows.map(toFile);
}

/** A page of a package's files in listFiles' order, after `after` (keyset: never a repeat or a gap). */
export async function listFilesPage(db: Knex, packageId: string, after: FileRow | undefined, limit: number): Promise<FileRow[]> {
  const q = db<FileRow>("files").where({ package_id: packageId });
  if (after) {
    q.where((w) =>
      w
        .where("created_at", ">", after.created_at)
        .orWhere((a) => a.where("created_at", after.created_at).where("name", ">", after.name))
        .orWhere((a) => a.where("created_at", after.created_at).where("name", after.name).where("id", ">", after.id)),
    );
  }
  const rows = await q
    .orderBy([{ column: "created_at" }, { column: "name" }, { column: "id" }])
    .limit(limit)
    .select<FileRow[]>(FILE_COLUMNS);
  return rows.map(toFile);
}

/** Every file of a package, a page at a time (for a zip that starts before every row is read). */
export async function* pagesOfFiles(db: Knex, packageId: string, pageSize: number): AsyncGenerator<FileRow[]> {
  let after: FileRow | undefined;
  for (;;) {
    const page = await listFilesPage(db, packageId, after, pageSize);
    if (page.length > 0) yield page;
    if (page.length < pageSize) return;
    after = page.at(-1);
  }
}

export async function findFile(db: Knex, packageId: string, fileId: string): Promise<FileRow | undefined> {
  const row = await db<FileRow>("files").where({ package_id: packageId, id: fileId }).first<FileRow | undefined>(FILE_COLUMNS);
  return row ? toFile(row) : undefined;
}

/** Removes one file's row; false when it was not there (any more). */
export async function deleteFileRow(db: Knex, packageId: string, fileId: string): Promise<boolean> {
  const row = await db("files").where({ id: fileId, package_id: packageId }).first<{ size: number } | undefined>("size");
  if (!row) return false;
  await db("files").where({ id: fileId, package_id: packageId }).delete();
  await db("packages")
    .where({ id: packageId })
    .decrement({ file_count: 1, total_size: Number(row.size) });
  return true;
}

/** The storage keys of a package's files (for deleting their bytes). */
export async function storageKeysOf(db: Knex, packageId: string): Promise<string[]> {
  const rows = await db("files").where({ package_id: packageId }).select<{ storage_key: string }[]>("storage_key");
  return rows.map((r) => r.storage_key);
}

/** Which of `keys` (at most a few hundred) some file row refers to. */
export async function storageKeysInUse(db: Knex, keys: string[]): Promise<Set<string>> {
  const rows = await db("files").whereIn("storage_key", keys).distinct<{ storage_key: string }[]>("storage_key");
  return new Set(rows.map((r) => r.storage_key));
}

export async function deleteFilesOf(db: Knex, packageId: string): Promise<void> {
  await db("files").where({ package_id: packageId }).delete();
}

/** How many files a package holds and their total size (its counters; exact under the package's lock). */
export async function packageUsage(db: Knex, packageId: string): Promise<{ count: number; bytes: number }> {
  const row = await db("packages").where({ id: packageId }).first<{ file_count: number; total_size: number } | undefined>("file_count", "total_size");
  return { count: Number(row?.file_count ?? 0), bytes: Number(row?.total_size ?? 0) };
}

/** The size of a package's largest file (0 when it has none). */
export async function largestFileSize(db: Knex, packageId: string): Promise<number> {
  const row = await db("files").where({ package_id: packageId }).first<{ m: number | string | null } | undefined>(db.raw("max(size) as m"));
  return Number(row?.m ?? 0);
}

/**
 * A file already in the package that `name` cannot sit beside on a recipient's disk: the same
 * name in another case, a file where `name` needs a folder (`dir` for `dir/inner.txt`), or a
 * folder where `name` would be a file (`dir/inner.txt` for `dir`). Undefined when there is none.
 */
export async function findNameClash(db: Knex, packageId: string, name: string): Promise<{ name: string } | undefined> {
  const key = nameKey(name);
  const segments = key.split("/");
  const ancestors = segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join("/"));
  return db("files")
    .where({ package_id: packageId })
    .where((w) => {
      w.where("name_key", key).orWhereRaw("name_key like ? escape '\\'", [`${escapeLike(key)}/%`]);
      if (ancestors.length > 0) w.orWhereIn("name_key", ancestors);
    })
    .first<{ name: string } | undefined>("name");
}

/** Files of a package received after `since` (ISO time; all of them when null). */
export async function countFilesSince(db: Knex, packageId: string, since: string | null): Promise<number> {
  const q = db("files").where({ package_id: packageId });
  if (since !== null) q.where("created_at", ">", since);
  const row = await q.count<{ n: number | string }[]>({ n: "*" }).first();
  return Number(row?.n ?? 0);
}

/** How many files the database holds (all packages, purged ones included). */
export async function countFiles(db: Knex): Promise<number> {
  const { n } = (await db("files").count({ n: "*" }).first()) as { n: number | string };
  return Number(n);
}

/** What copying a file's bytes needs: where they are, what they hash to, whether they were purged. */
export interface FileCopy {
  id: string;
  storage_key: string;
  size: number | string;
  sha256: string;
  purged_at: string | null;
}

/** The next `limit` files by storage key after `after` (`""` for the first page). */
export async function fileCopiesAfter(db: Knex, after: string, limit: number): Promise<FileCopy[]> {
  return (await db("files")
    .join("packages", "packages.id", "files.package_id")
    .where("files.storage_key", ">", after)
    .orderBy("files.storage_key")
    .limit(limit)
    .select("files.id", "files.storage_key", "files.size", "files.sha256", "packages.purged_at")) as FileCopy[];
}

/** A file whose bytes the store must hold (its package was not purged): what `backup` copies and `check` looks for. */
export interface HeldFile {
  id: string;
  package_id: string;
  storage_key: string;
  size: number;
  sha256: string;
}

/**
 * The next `limit` files whose bytes must be stored, in storage-key order after `after` (keyset on
 * key and id: two rows sharing a key are neither skipped nor repeated). `after` undefined: the first page.
 */
export async function heldFilesAfter(db: Knex, after: { storage_key: string; id: string } | undefined, limit: number): Promise<HeldFile[]> {
  const q = db("files").join("packages", "packages.id", "files.package_id").whereNull("packages.purged_at");
  if (after) {
    q.where((w) => w.where("files.storage_key", ">", after.storage_key).orWhere((a) => a.where("files.storage_key", after.storage_key).where("files.id", ">", after.id)));
  }
  const rows = (await q
    .orderBy([{ column: "files.storage_key" }, { column: "files.id" }])
    .limit(limit)
    .select("files.id", "files.package_id", "files.storage_key", "files.size", "files.sha256")) as HeldFile[];
  return rows.map((r) => ({ ...r, size: Number(r.size) }));
}

/** Whether the file still exists and its package was not purged (its bytes must still be stored). */
export async function fileStillHeld(db: Knex, fileId: string): Promise<boolean> {
  const row = await db("files").join("packages", "packages.id", "files.package_id").where("files.id", fileId).whereNull("packages.purged_at").first("files.id");
  return row !== undefined;
}

/** How many files of purged packages the database keeps (their bytes were deleted on purpose). */
export async function countPurgedFiles(db: Knex): Promise<number> {
  const row = await db("files").join("packages", "packages.id", "files.package_id").whereNotNull("packages.purged_at").count<{ n: number | string }[]>({ n: "*" }).first();
  return Number(row?.n ?? 0);
}
