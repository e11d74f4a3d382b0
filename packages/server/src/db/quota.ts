import type { Knex } from "knex";
import { lockForUpdate } from "./knex.js";

/** Room held in a user's quota by a multipart upload while its bytes arrive. */
export interface QuotaReservationRow {
  id: string;
  user_id: string;
  package_id: string;
  bytes: number;
  created_at: string;
  expires_at: string;
}

/**
 * Locks the user's row until the transaction ends: every change to what a user holds against
 * the quota (a reservation, a tus upload created, a file recorded) takes it first, so two
 * uploads at once cannot both see room that only one of them fits in (PostgreSQL; SQLite runs
 * one transaction at a time).
 */
export async function lockQuotaOwner(trx: Knex, userId: string): Promise<boolean> {
  const row = await lockForUpdate(trx, trx("users").where({ id: userId }).first("id"));
  return row !== undefined;
}

/**
 * The bytes a user holds: the files of their draft and active (not yet expired) packages, the
 * announced lengths of unfinished resumable uploads into those packages, and the reservations
 * of multipart uploads under way. One statement, so one snapshot on PostgreSQL: a file recorded
 * meanwhile (its reservation dropped in the same transaction) is counted once, never zero times.
 */
export async function heldBytes(db: Knex, userId: string, now: string): Promise<number> {
  const live = (q: Knex.QueryBuilder) =>
    q.where("p.owner_id", userId).where((w) => w.where("p.status", "draft").orWhere((a) => a.where("p.status", "active").where("p.expires_at", ">", now)));
  const files = live(db("packages as p")).select(db.raw("coalesce(sum(p.total_size), 0)"));
  const uploads = live(db("uploads as u").join("packages as p", "p.id", "u.package_id"))
    .whereNull("u.completed_at")
    .where("u.expires_at", ">", now)
    .select(db.raw("coalesce(sum(u.size), 0)"));
  const reserved = db("quota_reservations").where({ user_id: userId }).where("expires_at", ">", now).select(db.raw("coalesce(sum(bytes), 0)"));
  const row = await db.select(db.raw("(?) as f, (?) as u, (?) as r", [files, uploads, reserved])).first<{ f: number | string; u: number | string; r: number | string }>();
  return Number(row?.f ?? 0) + Number(row?.u ?? 0) + Number(row?.r ?? 0);
}

export async function insertQuotaReservation(db: Knex, row: QuotaReservationRow): Promise<void> {
  await db("quota_reservations").insert(row);
}

export async function findQuotaReservation(db: Knex, id: string): Promise<QuotaReservationRow | undefined> {
  const row = await db("quota_reservations").where({ id }).first<QuotaReservationRow | undefined>();
  return row ? { ...row, bytes: Number(row.bytes) } : undefined;
}

/** Moves a live reservation's expiry on; false when it is gone. */
export async function renewQuotaReservation(db: Knex, id: string, expiresAt: string): Promise<boolean> {
  return (await db("quota_reservations").where({ id }).update({ expires_at: expiresAt })) > 0;
}

export async function deleteQuotaReservation(db: Knex, id: string): Promise<void> {
  await db("quota_reservations").where({ id }).delete();
}

/** Sweeper: reservations whose upload's process is gone (not renewed). */
export async function deleteLapsedQuotaReservations(db: Knex, now: string): Promise<number> {
  return db("quota_reservations").where("expires_at", "<=", now).delete();
}
