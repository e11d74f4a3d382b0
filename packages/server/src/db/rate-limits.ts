import type { Knex } from "knex";

/** A rate-limit counter: its hits in the current window and when that window ends. */
export interface RateCounter {
  hits: number;
  /** Milliseconds since the epoch. */
  resetAt: number;
}

interface CounterRow {
  hits: number;
  /** Milliseconds since the epoch (a BIGINT: a string from pg unless parsed, see db/knex.ts). */
  reset_at: number | string;
}

const toCounter = (r: CounterRow): RateCounter => ({ hits: Number(r.hits), resetAt: Number(r.reset_at) });

/** The counter `key` while its window is open at `now`. */
export async function findRateCounter(db: Knex, key: string, now: number): Promise<RateCounter | undefined> {
  const row = (await db("rate_limits").where({ key }).andWhere("reset_at", ">", now).first("hits", "reset_at")) as CounterRow | undefined;
  return row ? toCounter(row) : undefined;
}

/**
 * Counts one hit, starting a new window of `windowMs` when the old one has passed. One statement,
 * atomic under concurrent increments from any process; both databases read `excluded` and answer
 * RETURNING (SQLite since 3.35) the same way.
 */
export async function incrementRateCounter(db: Knex, key: string, now: number, windowMs: number): Promise<RateCounter> {
  const res = (await db.raw(
    `insert into rate_limits (key, hits, reset_at) values (?, 1, ?)
     on conflict (key) do update set
       hits = case when rate_limits.reset_at <= ? then 1 else rate_limits.hits + 1 end,
       reset_at = case when rate_limits.reset_at <= ? then excluded.reset_at else rate_limits.reset_at end
     returning hits, reset_at`,
    [key, now + windowMs, now, now],
  )) as { rows: CounterRow[] } | CounterRow[];
  return toCounter((Array.isArray(res) ? res : res.rows)[0]!);
}

/**
 * Takes one hit back from the window that counted it: the one ending at `resetAt`, as
 * incrementRateCounter answered (never below zero). When that window has passed and a new one
 * started meanwhile, nothing changes: the hit is not taken off a window that never counted it.
 */
export async function decrementRateCounter(db: Knex, key: string, resetAt: number): Promise<void> {
  await db("rate_limits").where({ key, reset_at: resetAt }).andWhere("hits", ">", 0).decrement("hits", 1);
}

/**
 * Takes one hit back from the window open at `now`, whichever it is (express-rate-limit's
 * Store.decrement, which is not told which window counted the request; its MemoryStore does the same).
 */
export async function decrementOpenRateCounter(db: Knex, key: string, now: number): Promise<void> {
  await db("rate_limits").where({ key }).andWhere("reset_at", ">", now).andWhere("hits", ">", 0).decrement("hits", 1);
}

export async function deleteRateCounter(db: Knex, key: string): Promise<void> {
  await db("rate_limits").where({ key }).delete();
}

/** Removes the counters whose window had passed at `now`. */
export async function deleteExpiredRateCounters(db: Knex, now: number): Promise<void> {
  await db("rate_limits").where("reset_at", "<=", now).delete();
}
