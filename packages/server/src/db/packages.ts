import type { Knex } from "knex";
import { bool, isPostgres, lockForUpdate, lockSkipLocked } from "./knex.js";
import { escapeLike } from "./users.js";
import { findLinkByHash } from "./links.js";

export type Direction = "outbound" | "inbound";
export type PackageStatus = "draft" | "active" | "expired" | "revoked";

export interface PackageRow {
  id: string;
  owner_id: string;
  title: string;
  recipient_email: string;
  recipient_name: string | null;
  direction: Direction;
  status: PackageStatus;
  ttl_days: number;
  message: string | null;
  link_hash: string | null;
  created_at: string;
  finalized_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  completed_at: string | null;
  /** How many files the package held when the recipient last said "done" (inbound). */
  completed_file_count: number;
  purged_at: string | null;
  /** Complete downloads allowed of each file per recipient link; null: no limit (outbound only). */
  max_downloads: number | null;
  /** scrypt hash of the recipients' password (outbound only); never leaves the server. */
  password_hash: string | null;
  /** Email the owner on each recipient's first complete download and when a link is used up. */
  notify_on_download: boolean;
  /** End-to-end encryption (null: none); the key is never on the server. */
  encryption_scheme: EncryptionScheme | null;
  /** The age X25519 recipient files are encrypted to (inbound; optional outbound). */
  encryption_recipient: string | null;
  /** The message of an encrypted package, as the client sealed it (base64 of an age file). */
  sealed_message: string | null;
}

export type EncryptionScheme = "age-x25519" | "age-scrypt";

export interface PackageWithCounts extends PackageRow {
  file_count: number;
  total_size: number;
  download_count: number;
}

/** A package found by its link, with what the link's checks need to know about its owner. */
export interface LinkedPackage extends PackageWithCounts {
  owner_disabled: boolean;
}

/** A packages query's rows with their counts (`file_count`, `total_size`, `download_count`: columns kept up to date). */
function withCounts(_db: Knex, q: Knex.QueryBuilder): Knex.QueryBuilder {
  return q.select("p.*");
}

function normaliseCounts<T extends PackageWithCounts>(row: T): T {
  return {
    ...row,
    file_count: Number(row.file_count),
    total_size: Number(row.total_size),
    download_count: Number(row.download_count),
    max_downloads: row.max_downloads === null || row.max_downloads === undefined ? null : Number(row.max_downloads),
    notify_on_download: bool(row.notify_on_download),
  };
}

export async function insertPackage(db: Knex, row: PackageRow): Promise<void> {
  await db("packages").insert(row);
  await db("users").where({ id: row.owner_id }).increment("package_count", 1);
}

export async function findPackage(db: Knex, id: string): Promise<PackageWithCounts | undefined> {
  const row = await withCounts(db, db("packages as p").where("p.id", id)).first();
  return row ? normaliseCounts(row as PackageWithCounts) : undefined;
}

/** The package one of its links' secrets hashes to (see db/links.ts for the link itself). */
export async function findPackageByLinkHash(db: Knex, linkHash: string): Promise<LinkedPackage | undefined> {
  return (await findLinkByHash(db, linkHash))?.pkg;
}

/** The package row, locked until the transaction `trx` ends (see lockForUpdate). */
export async function lockPackage(trx: Knex, id: string): Promise<PackageRow | undefined> {
  return lockForUpdate(trx, trx<PackageRow>("packages").where({ id })).first();
}

/**
 * Keeps the package from being deleted until the transaction ends, and says whether it is still
 * there. On PostgreSQL a `FOR KEY SHARE` lock: other downloads and updates of the row do not wait
 * for it, a deletion (which locks the row `FOR UPDATE` first) does, and a transaction that comes
 * after a deletion's lock waits for its end and finds the row gone. Taken first, it orders the
 * locks of a download's bookkeeping the same way as a deletion's (package, then its other rows):
 * they used to deadlock. SQLite runs one transaction at a time: a plain read.
 */
export async function holdPackage(trx: Knex, id: string): Promise<boolean> {
  const q = trx("packages").where({ id }).first("id");
  return (await (isPostgres(trx) ? q.forKeyShare() : q)) !== undefined;
}

export interface PackageFilter {
  ownerId: string;
  status?: PackageStatus | undefined;
  direction?: Direction | undefined;
  q?: string | undefined;
  /** Lower-case start of the id. */
  idPrefix?: string | undefined;
  /** "now" as an ISO string: a package past its expiry counts as expired even before the sweeper. */
  now: string;
}

/** Where a walk by cursor stands: the last package it returned (the list's order is created_at, id, newest first). */
export interface PackageCursor {
  created_at: string;
  id: string;
}

function applyFilter(q: Knex.QueryBuilder, f: PackageFilter): Knex.QueryBuilder {
  q.where("p.owner_id", f.ownerId);
  if (f.direction) q.where("p.direction", f.direction);
  if (f.status === "expired") {
    q.where((w) => w.where("p.status", "expired").orWhere((a) => a.where("p.status", "active").where("p.expires_at", "<=", f.now)));
  } else if (f.status === "active") {
    q.where("p.status", "active").where("p.expires_at", ">", f.now);
  } else if (f.status) {
    q.where("p.status", f.status);
  }
  if (f.idPrefix) q.whereRaw("cast(p.id as text) like ?", [`${f.idPrefix}%`]);
  if (f.q) {
    const like = `%${escapeLike(f.q.toLowerCase())}%`;
    q.where((w) =>
      w
        .whereRaw("lower(p.title) like ? escape '\\'", [like])
        .orWhereRaw("lower(p.recipient_email) like ? escape '\\'", [like])
        .orWhereRaw("lower(coalesce(p.recipient_name, '')) like ? escape '\\'", [like])
        .orWhereExists((e) => e.select(1).from("package_links as l").whereRaw("l.package_id = p.id").whereRaw("lower(l.recipient_email) like ? escape '\\'", [like])),
    );
  }
  return q;
}

/**
 * One page of the filtered packages, newest first, after `page.after` (a cursor) or from
 * `page.offset`, and the total the filter matches.
 */
export async function listPackageRows(
  db: Knex,
  f: PackageFilter,
  page: { limit: number; offset: number; after?: PackageCursor | undefined },
): Promise<{ rows: PackageWithCounts[]; total: number }> {
  // Unfiltered, the length of a user's list is kept on the user; filtered, it is counted.
  const filtered = f.status !== undefined || f.direction !== undefined || f.q !== undefined || f.idPrefix !== undefined;
  const [countRow] = filtered
    ? await applyFilter(db("packages as p"), f).count<{ n: number | string }[]>({ n: "*" })
    : [await db("users").where({ id: f.ownerId }).first<{ n: number | string } | undefined>("package_count as n")];
  // The page's ids first, from the (owner_id, created_at, id) index alone: rows skipped by the
  // offset are never read and their counts never computed. Then the page itself, with its counts.
  const ids = applyFilter(db("packages as p"), f).select("p.id");
  const after = page.after;
  if (after) {
    ids.where((w) => w.where("p.created_at", "<", after.created_at).orWhere((a) => a.where("p.created_at", after.created_at).where("p.id", "<", after.id)));
  }
  const total = Number(countRow?.n ?? 0);
  const order = [
    { column: "p.created_at", order: "desc" },
    { column: "p.id", order: "desc" },
  ];
  // A page in the second half of the list is read from its far end: an offset costs a walk over
  // the rows it skips, so the last pages (as cheap as the first) are not the slowest ones.
  const fromEnd = !after && page.offset > total / 2 && page.offset < total;
  const pageIds = fromEnd
    ? (
        (await ids
          .orderBy(order.map((o) => ({ ...o, order: "asc" })))
          .limit(Math.min(page.limit, total - page.offset))
          .offset(Math.max(0, total - page.offset - page.limit))) as { id: string }[]
      ).map((r) => r.id)
    : (
        (await ids
          .orderBy(order)
          .limit(page.limit)
          .offset(after ? 0 : page.offset)) as { id: string }[]
      ).map((r) => r.id);
  if (pageIds.length === 0) return { rows: [], total };
  const rows = await withCounts(db, db("packages as p").whereIn("p.id", pageIds)).orderBy(order);
  return { rows: (rows as PackageWithCounts[]).map((r) => normaliseCounts(r)), total };
}

/** draft → active, with the expiry (the links are rows of package_links). */
export async function activatePackage(db: Knex, id: string, v: { finalized_at: string; expires_at: string }): Promise<void> {
  await db("packages")
    .where({ id })
    .update({ status: "active", ...v });
}

/** active → revoked; false if the package was not active (any more). */
export async function revokePackageRow(db: Knex, id: string, now: string): Promise<boolean> {
  return (await db("packages").where({ id, status: "active" }).update({ status: "revoked", revoked_at: now })) > 0;
}

export async function markCompleted(db: Knex, id: string, now: string, fileCount: number): Promise<void> {
  await db("packages").where({ id }).update({ completed_at: now, completed_file_count: fileCount });
}

export async function deletePackageRow(db: Knex, id: string): Promise<void> {
  const row = await db("packages").where({ id }).first("owner_id");
  if (!row) return;
  await db("packages").where({ id }).delete();
  await db("users").where({ id: row.owner_id }).decrement("package_count", 1);
}

/**
 * Up to `limit` active packages past their expiry, claimed for the transaction `trx` (SKIP LOCKED:
 * with several server processes each is expired, and reported, by one).
 */
export async function claimExpiring(trx: Knex, now: string, limit: number): Promise<{ id: string; owner_id: string }[]> {
  const q = trx("packages").select("id", "owner_id").where("status", "active").where("expires_at", "<=", now).orderBy("id").limit(limit);
  return (await lockSkipLocked(trx, q)) as { id: string; owner_id: string }[];
}

export async function markExpired(db: Knex, id: string): Promise<void> {
  await db("packages").where({ id, status: "active" }).update({ status: "expired" });
}

/**
 * Up to `limit` outbound packages whose bytes are due for deletion (expired or revoked before
 * `cutoff`), claimed for the transaction `trx`: with several server processes each package is
 * claimed by one (`SKIP LOCKED`). Inbound packages are never purged: what a recipient uploaded
 * is the owner's data, deleted only when the owner deletes the package.
 */
export async function claimPurgeable(trx: Knex, cutoff: string, limit: number): Promise<string[]> {
  const q = trx("packages")
    .select("id")
    .whereNull("purged_at")
    .where("direction", "outbound")
    .where((w) => w.where((a) => a.where("status", "expired").where("expires_at", "<=", cutoff)).orWhere((a) => a.where("status", "revoked").where("revoked_at", "<=", cutoff)))
    .orderBy("id")
    .limit(limit);
  const rows = (await lockSkipLocked(trx, q)) as { id: string }[];
  return rows.map((r) => r.id);
}

export async function markPurged(db: Knex, id: string, now: string): Promise<void> {
  await db("packages").where({ id }).update({ purged_at: now });
}

/** Changes the delivery settings of a package (PATCH /packages/{id}). */
export async function updatePackageRow(db: Knex, id: string, v: Partial<Pick<PackageRow, "expires_at" | "ttl_days" | "max_downloads" | "status">>): Promise<void> {
  if (Object.keys(v).length > 0) await db("packages").where({ id }).update(v);
}

/** The first recipient's link hash, mirrored on the package (see mintLinks in services/packages.ts). */
export async function setPackageLinkHash(db: Knex, id: string, linkHash: string): Promise<void> {
  await db("packages").where({ id }).update({ link_hash: linkHash });
}
