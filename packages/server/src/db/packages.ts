import type { Knex } from "knex";
import type { Db } from "./knex.js";
import { escapeLike } from "./users.js";

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
  purged_at: string | null;
}

export interface PackageWithCounts extends PackageRow {
  file_count: number;
  total_size: number;
  download_count: number;
}

export interface FileRow {
  id: string;
  package_id: string;
  name: string;
  size: number;
  sha256: string;
  content_type: string;
  storage_key: string;
  created_at: string;
}

/** Adds `file_count` and `total_size` to a packages query. */
function withCounts(db: Db, q: Knex.QueryBuilder): Knex.QueryBuilder {
  return q.select(
    "p.*",
    db.raw("(select count(*) from files f where f.package_id = p.id) as file_count"),
    db.raw("(select coalesce(sum(f.size), 0) from files f where f.package_id = p.id) as total_size"),
    db.raw(
      "(select count(*) from package_events e where e.package_id = p.id and e.type in ('file_download', 'archive_download')) as download_count",
    ),
  );
}

function normaliseCounts(row: PackageWithCounts): PackageWithCounts {
  return { ...row, file_count: Number(row.file_count), total_size: Number(row.total_size), download_count: Number(row.download_count) };
}

export async function insertPackage(db: Db, row: PackageRow): Promise<void> {
  await db("packages").insert(row);
}

export async function findPackage(db: Db | Knex.Transaction, id: string): Promise<PackageWithCounts | undefined> {
  const row = await withCounts(db as Db, db("packages as p").where("p.id", id)).first();
  return row ? normaliseCounts(row as PackageWithCounts) : undefined;
}

export async function findPackageByLinkHash(db: Db, linkHash: string): Promise<PackageWithCounts | undefined> {
  const row = await withCounts(db, db("packages as p").where("p.link_hash", linkHash)).first();
  return row ? normaliseCounts(row as PackageWithCounts) : undefined;
}

export interface PackageFilter {
  ownerId: string;
  status?: PackageStatus | undefined;
  direction?: Direction | undefined;
  q?: string | undefined;
  /** "now" as an ISO string: a package past its expiry counts as expired even before the sweeper. */
  now: string;
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
  if (f.q) {
    const like = `%${escapeLike(f.q.toLowerCase())}%`;
    q.where((w) =>
      w
        .whereRaw("lower(p.title) like ? escape '\\'", [like])
        .orWhereRaw("lower(p.recipient_email) like ? escape '\\'", [like])
        .orWhereRaw("lower(coalesce(p.recipient_name, '')) like ? escape '\\'", [like]),
    );
  }
  return q;
}

export async function listPackageRows(
  db: Db,
  f: PackageFilter,
  page: { limit: number; offset: number },
): Promise<{ rows: PackageWithCounts[]; total: number }> {
  const [countRow] = await applyFilter(db("packages as p"), f).count<{ n: number | string }[]>({ n: "*" });
  const rows = await withCounts(db, applyFilter(db("packages as p"), f))
    .orderBy([
      { column: "p.created_at", order: "desc" },
      { column: "p.id", order: "desc" },
    ])
    .limit(page.limit)
    .offset(page.offset);
  return { rows: (rows as PackageWithCounts[]).map(normaliseCounts), total: Number(countRow?.n ?? 0) };
}

export async function listFiles(db: Db | Knex.Transaction, packageId: string): Promise<FileRow[]> {
  const rows = await db<FileRow>("files").where({ package_id: packageId }).orderBy([{ column: "created_at" }, { column: "name" }]);
  return rows.map((r) => ({ ...r, size: Number(r.size) }));
}

export async function findFile(db: Db, packageId: string, fileId: string): Promise<FileRow | undefined> {
  const row = await db<FileRow>("files").where({ package_id: packageId, id: fileId }).first();
  return row ? { ...row, size: Number(row.size) } : undefined;
}

export type EventType = "file_download" | "archive_download" | "upload" | "complete";

export interface EventRow {
  id: string;
  package_id: string;
  type: EventType;
  file_id: string | null;
  file_name: string | null;
  client_address: string | null;
  user_agent: string | null;
  created_at: string;
}

export async function insertEvent(db: Db, row: EventRow): Promise<void> {
  await db("package_events").insert(row);
}

export async function listEvents(db: Db, packageId: string): Promise<EventRow[]> {
  return db<EventRow>("package_events")
    .where({ package_id: packageId })
    .orderBy([
      { column: "created_at", order: "desc" },
      { column: "id", order: "desc" },
    ]);
}
