import type { Knex } from "knex";
import { bool, lockForUpdate } from "./knex.js";
import type { LinkedPackage, PackageWithCounts } from "./packages.js";

/** One recipient's link to a package (only the SHA-256 of its secret is stored). */
export interface LinkRow {
  id: string;
  package_id: string;
  recipient_email: string;
  recipient_name: string | null;
  link_hash: string;
  /** The recipient's place in the request (links are listed in this order). */
  position: number;
  created_at: string;
  revoked_at: string | null;
  download_count: number;
  first_download_at: string | null;
  limit_notified_at: string | null;
  receipt_sent_at: string | null;
}

/** A link found by its secret's hash, with its package (and what the link's checks need of the owner). */
export interface LinkWithPackage {
  link: LinkRow;
  pkg: LinkedPackage;
}

export async function insertLink(db: Knex, row: LinkRow): Promise<void> {
  await db("package_links").insert(row);
}

const LINK_COLUMNS = [
  "id",
  "package_id",
  "recipient_email",
  "recipient_name",
  "link_hash",
  "position",
  "created_at",
  "revoked_at",
  "download_count",
  "first_download_at",
  "limit_notified_at",
  "receipt_sent_at",
] as const;

function normaliseLink(r: LinkRow): LinkRow {
  return { ...r, download_count: Number(r.download_count) };
}

/** The link whose secret hashes to `linkHash`, with its package and the owner's `disabled`. */
export async function findLinkByHash(db: Knex, linkHash: string): Promise<LinkWithPackage | undefined> {
  const link = (await db<LinkRow>("package_links").where({ link_hash: linkHash }).first()) as LinkRow | undefined;
  if (!link) return undefined;
  const row = (await db("packages as p").join("users as u", "u.id", "p.owner_id").where("p.id", link.package_id).select("p.*", "u.disabled as owner_disabled").first()) as
    | (PackageWithCounts & { owner_disabled: unknown })
    | undefined;
  if (!row) return undefined;
  return {
    link: normaliseLink(link),
    pkg: {
      ...row,
      file_count: Number(row.file_count),
      total_size: Number(row.total_size),
      download_count: Number(row.download_count),
      max_downloads: row.max_downloads === null ? null : Number(row.max_downloads),
      notify_on_download: bool(row.notify_on_download),
      owner_disabled: bool(row.owner_disabled),
    },
  };
}

/** A package's links in the order the recipients were given. */
export async function listLinks(db: Knex, packageId: string): Promise<LinkRow[]> {
  const rows = (await db<LinkRow>("package_links")
    .where({ package_id: packageId })
    .orderBy([
      { column: "position", order: "asc" },
      { column: "id", order: "asc" },
    ])
    .select(...LINK_COLUMNS)) as LinkRow[];
  return rows.map(normaliseLink);
}

/** The recipients of these packages of one owner (every link, draft or not), in the order given. */
export async function listRecipientsOf(db: Knex, ownerId: string, packageIds: string[]): Promise<Pick<LinkRow, "package_id" | "recipient_email" | "recipient_name">[]> {
  if (packageIds.length === 0) return [];
  return db("package_links as l")
    .join("packages as p", "p.id", "l.package_id")
    .where("p.owner_id", ownerId)
    .whereIn("l.package_id", packageIds)
    .orderBy([
      { column: "l.package_id", order: "asc" },
      { column: "l.position", order: "asc" },
      { column: "l.id", order: "asc" },
    ])
    .select("l.package_id", "l.recipient_email", "l.recipient_name");
}

export async function findLink(db: Knex, packageId: string, linkId: string): Promise<LinkRow | undefined> {
  const r = (await db<LinkRow>("package_links").where({ package_id: packageId, id: linkId }).first()) as LinkRow | undefined;
  return r ? normaliseLink(r) : undefined;
}

/** The link row, locked until the transaction ends: download holds of one link are taken one at a time. */
export async function lockLink(trx: Knex, id: string): Promise<LinkRow | undefined> {
  return (await lockForUpdate(trx, trx<LinkRow>("package_links").where({ id })).first()) as LinkRow | undefined;
}

export async function revokeLinkRow(db: Knex, id: string, now: string): Promise<void> {
  await db("package_links").where({ id }).whereNull("revoked_at").update({ revoked_at: now });
}

export async function replaceLinkHash(db: Knex, id: string, linkHash: string): Promise<void> {
  await db("package_links").where({ id }).update({ link_hash: linkHash });
}

/** Counted, complete downloads of each file through `linkId` (files never downloaded are absent). */
export async function fileDownloadCounts(db: Knex, linkId: string): Promise<Map<string, number>> {
  const rows = (await db("link_file_downloads").where({ link_id: linkId }).select("file_id", "count")) as { file_id: string; count: number | string }[];
  return new Map(rows.map((r) => [r.file_id, Number(r.count)]));
}

/** Downloads in flight through `linkId` that hold one of a file's remaining downloads (live holds only). */
export async function liveHolds(db: Knex, linkId: string, now: string): Promise<Map<string, number>> {
  const rows = (await db("link_download_holds").where({ link_id: linkId }).where("until", ">", now).groupBy("file_id").select("file_id").count({ n: "*" })) as {
    file_id: string;
    n: number | string;
  }[];
  return new Map(rows.map((r) => [r.file_id, Number(r.n)]));
}

export async function insertHolds(db: Knex, rows: { id: string; link_id: string; file_id: string; until: string }[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) await db("link_download_holds").insert(rows.slice(i, i + 200));
}

export async function deleteHolds(db: Knex, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 500)
    await db("link_download_holds")
      .whereIn("id", ids.slice(i, i + 500))
      .delete();
}

/** Drops holds past their `until` (left by a process that died mid-transfer). */
export async function deleteStaleHolds(db: Knex, linkId: string, now: string): Promise<void> {
  await db("link_download_holds").where({ link_id: linkId }).where("until", "<=", now).delete();
}

/** One more complete download of each of `fileIds` through `linkId`. */
export async function countFileDownloads(db: Knex, linkId: string, fileIds: string[]): Promise<void> {
  for (const fileId of fileIds) {
    await db("link_file_downloads")
      .insert({ link_id: linkId, file_id: fileId, count: 1 })
      .onConflict(["link_id", "file_id"])
      .merge({ count: db.raw("link_file_downloads.count + 1") });
  }
}

/**
 * One more complete download of every file of the package through `linkId` (the zip), in one
 * statement however many files there are.
 */
export async function countPackageFileDownloads(db: Knex, linkId: string, packageId: string): Promise<void> {
  // `where true`: SQLite needs it to read ON CONFLICT after INSERT … SELECT as the upsert clause.
  await db.raw(
    "insert into link_file_downloads (link_id, file_id, count) select ?, f.id, 1 from files f where f.package_id = ? and true " +
      "on conflict (link_id, file_id) do update set count = link_file_downloads.count + 1",
    [linkId, packageId],
  );
}

/** One more complete download through the link (a file or the zip), and when its first was. */
export async function countLinkDownload(db: Knex, linkId: string, now: string): Promise<void> {
  await db("package_links")
    .where({ id: linkId })
    .update({ download_count: db.raw("download_count + 1"), first_download_at: db.raw("coalesce(first_download_at, ?)", [now]) });
}

/** Marks the sender's receipt for this link as sent; false when it already was (one receipt per recipient). */
export async function claimReceipt(db: Knex, linkId: string, now: string): Promise<boolean> {
  return (await db("package_links").where({ id: linkId }).whereNull("receipt_sent_at").update({ receipt_sent_at: now })) > 0;
}

/** Marks the link's "used up" notice as sent; false when it already was (only one process sends it). */
export async function claimLimitNotice(db: Knex, linkId: string, now: string): Promise<boolean> {
  return (await db("package_links").where({ id: linkId }).whereNull("limit_notified_at").update({ limit_notified_at: now })) > 0;
}

/** After the limit changed: a link used up again is reported again. */
export async function resetLimitNotices(db: Knex, packageId: string): Promise<void> {
  await db("package_links").where({ package_id: packageId }).update({ limit_notified_at: null });
}

/** Per link of a package: how many files reached `max` downloads through it. */
export async function usedUpFileCounts(db: Knex, packageId: string, max: number): Promise<Map<string, number>> {
  const rows = (await db("link_file_downloads as d")
    .join("package_links as l", "l.id", "d.link_id")
    .where("l.package_id", packageId)
    .where("d.count", ">=", max)
    .groupBy("d.link_id")
    .select("d.link_id")
    .count({ n: "*" })) as { link_id: string; n: number | string }[];
  return new Map(rows.map((r) => [r.link_id, Number(r.n)]));
}
