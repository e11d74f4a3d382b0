import type { Knex } from "knex";
import { nameKey } from "../util/name-key.js";

/** A resumable (tus) upload: its bytes are in the upload store, its rules here. */
export interface UploadRow {
  id: string;
  package_id: string;
  name: string;
  size: number;
  received: number;
  sha256: string | null;
  content_type: string;
  via: "owner" | "link";
  file_id: string | null;
  created_at: string;
  expires_at: string;
  completed_at: string | null;
  /** The sealed manifest entry of a file of an encrypted package, kept until the file is recorded. */
  sealed: string | null;
}

const COLUMNS = ["id", "package_id", "name", "size", "received", "sha256", "content_type", "via", "file_id", "created_at", "expires_at", "completed_at", "sealed"];
const toUpload = (r: UploadRow): UploadRow => ({ ...r, size: Number(r.size), received: Number(r.received) });

export async function insertUpload(db: Knex, row: Omit<UploadRow, "received" | "file_id" | "completed_at">): Promise<void> {
  await db("uploads").insert({ ...row, name_key: nameKey(row.name), received: 0 });
}

export async function findUpload(db: Knex, packageId: string, id: string): Promise<UploadRow | undefined> {
  const row = await db<UploadRow>("uploads").where({ package_id: packageId, id }).first<UploadRow | undefined>(COLUMNS);
  return row ? toUpload(row) : undefined;
}

export async function findUploadById(db: Knex, id: string): Promise<UploadRow | undefined> {
  const row = await db<UploadRow>("uploads").where({ id }).first<UploadRow | undefined>(COLUMNS);
  return row ? toUpload(row) : undefined;
}

/** Unfinished uploads of a package that have not expired: how many and the bytes they will bring. */
export async function openUploadUsage(db: Knex, packageId: string, now: string): Promise<{ count: number; bytes: number }> {
  const row = await db("uploads")
    .where({ package_id: packageId })
    .whereNull("completed_at")
    .where("expires_at", ">", now)
    .first<{ n: number | string; b: number | string | null }>(db.raw("count(*) as n"), db.raw("coalesce(sum(size), 0) as b"));
  return { count: Number(row?.n ?? 0), bytes: Number(row?.b ?? 0) };
}

/** Unfinished resumable uploads that have not expired, in every package. */
export async function countOpenUploads(db: Knex, now: string): Promise<number> {
  const r = (await db("uploads").whereNull("completed_at").where("expires_at", ">", now).first(db.raw("count(*) as n"))) as { n: number | string } | undefined;
  return Number(r?.n ?? 0);
}

/** An unfinished, unexpired upload of the package whose name collides with `name` (same name_key). */
export async function findOpenUploadNamed(db: Knex, packageId: string, name: string, now: string): Promise<{ name: string } | undefined> {
  return db("uploads")
    .where({ package_id: packageId, name_key: nameKey(name) })
    .whereNull("completed_at")
    .where("expires_at", ">", now)
    .first<{ name: string } | undefined>("name");
}

/** The ids of a package's unfinished uploads (to remove their bytes with the package). */
export async function openUploadIdsOf(db: Knex, packageId: string): Promise<string[]> {
  const rows = await db("uploads").where({ package_id: packageId }).whereNull("completed_at").select<{ id: string }[]>("id");
  return rows.map((r) => r.id);
}

export async function setReceived(db: Knex, id: string, received: number): Promise<void> {
  await db("uploads").where({ id }).whereNull("completed_at").update({ received });
}

export async function markUploadCompleted(db: Knex, id: string, fileId: string, now: string): Promise<void> {
  await db("uploads")
    .where({ id })
    .update({ file_id: fileId, completed_at: now, received: db.ref("size"), locked_by: null, lock_expires_at: null, lock_wanted_at: null });
}

export async function deleteUpload(db: Knex, id: string): Promise<void> {
  await db("uploads").where({ id }).delete();
}

/** Unfinished uploads past their expiry, oldest first. */
export async function expiredUploads(db: Knex, now: string, limit: number): Promise<string[]> {
  const rows = await db("uploads").whereNull("completed_at").where("expires_at", "<=", now).orderBy("expires_at").limit(limit).select<{ id: string }[]>("id");
  return rows.map((r) => r.id);
}

/**
 * Takes (or renews) the lease of an upload for `holder` until `until`: succeeds when nobody
 * holds it, the holder is `holder`, or the last lease ran out (its process died). False while
 * another live holder has it. An upload without a row (unknown id) is free: tus answers 404.
 */
export async function takeUploadLease(db: Knex, id: string, holder: string, now: string, until: string): Promise<boolean> {
  const n = await db("uploads")
    .where({ id })
    .where((w) => w.whereNull("locked_by").orWhere("locked_by", holder).orWhere("lock_expires_at", "<", now))
    .update({ locked_by: holder, lock_expires_at: until, lock_wanted_at: null });
  if (n > 0) return true;
  return (await db("uploads").where({ id }).first("id")) === undefined;
}

/** Renews a held lease; tells whether another process has asked for the upload meanwhile. */
export async function renewUploadLease(db: Knex, id: string, holder: string, until: string): Promise<{ wanted: boolean }> {
  const rows = await db("uploads").where({ id, locked_by: holder }).update({ lock_expires_at: until }, ["lock_wanted_at"]);
  return { wanted: (rows as { lock_wanted_at: string | null }[]).some((r) => r.lock_wanted_at !== null) };
}

/** Asks the process holding an upload's lease to let go (it sees it when it renews). */
export async function wantUploadLease(db: Knex, id: string, holder: string, now: string): Promise<void> {
  await db("uploads").where({ id }).whereNotNull("locked_by").whereNot("locked_by", holder).whereNull("lock_wanted_at").update({ lock_wanted_at: now });
}

export async function releaseUploadLease(db: Knex, id: string, holder: string): Promise<void> {
  await db("uploads").where({ id, locked_by: holder }).update({ locked_by: null, lock_expires_at: null, lock_wanted_at: null });
}

/** One stored piece of an unfinished upload's bytes (S3 tus store): `size` bytes from `offset`. */
export interface UploadChunk {
  offset: number;
  size: number;
}

/** The chunks of an upload, in order. */
export async function uploadChunks(db: Knex, id: string): Promise<UploadChunk[]> {
  const rows = await db("upload_chunks").where({ upload_id: id }).orderBy("offset").select<{ offset: number | string; size: number | string }[]>("offset", "size");
  return rows.map((r) => ({ offset: Number(r.offset), size: Number(r.size) }));
}

/** Records a chunk whose object is complete. */
export async function addUploadChunk(db: Knex, id: string, chunk: UploadChunk): Promise<void> {
  await db("upload_chunks").insert({ upload_id: id, offset: chunk.offset, size: chunk.size });
}

export async function deleteUploadChunks(db: Knex, id: string): Promise<void> {
  await db("upload_chunks").where({ upload_id: id }).delete();
}
