import fs from "node:fs";
import path from "node:path";
import knexFactory, { type Knex } from "knex";
import pg from "pg";
import { migrationSource } from "./migrations/index.js";
import { closeHot } from "./hot.js";

// PostgreSQL returns BIGINT (sizes, counts) as strings by default; every such value we store fits
// in a double (sizes are capped far below 2^53), so parse them as numbers.
pg.types.setTypeParser(20, (v: string) => Number(v));

export type Db = Knex;

/**
 * SQLite reads through a page cache of its own (default 2 MiB) and, for the rest, through read()
 * calls: at 100,000 packages the indexes of one user's list no longer fit, and every list re-read
 * them from the kernel. A larger cache and memory-mapped reads keep large databases as quick as
 * small ones (both are upper bounds: memory is used as the database grows).
 */
export const SQLITE_CACHE_KIB = 64 * 1024;
export const SQLITE_MMAP_BYTES = 1024 * 1024 * 1024;

/** Statements kept prepared per SQLite connection (most recently used; the rest are prepared again). */
const STATEMENT_CACHE = 256;

/**
 * knex prepares every statement again on every call with better-sqlite3: a tenth of the server's
 * time per small upload. The connection keeps the statements it prepared, by SQL text (the
 * same text with other bindings reuses one). knex runs each with `all` or `run`, never an
 * iterator, so a statement is never busy when it is reused; SQLite prepares it again by itself
 * after a schema change.
 */
function cachePreparedStatements(conn: { prepare(sql: string): unknown }): void {
  const prepare = conn.prepare.bind(conn);
  const cache = new Map<string, unknown>();
  conn.prepare = (sql: string) => {
    let st = cache.get(sql);
    if (st === undefined) {
      st = prepare(sql);
      if (cache.size >= STATEMENT_CACHE) cache.delete(cache.keys().next().value!);
    } else {
      cache.delete(sql);
    }
    cache.set(sql, st);
    return st;
  };
}

/** Opens the database named by an `sqlite://` or `postgres://` URL. */
export function openDatabase(databaseUrl: string): Db {
  if (databaseUrl.startsWith("sqlite://")) {
    const file = databaseUrl.slice("sqlite://".length);
    if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    return knexFactory({
      client: "better-sqlite3",
      connection: { filename: file },
      useNullAsDefault: true,
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: { pragma(s: string): unknown; prepare(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
          cachePreparedStatements(conn);
          // WAL lets readers proceed during a write; foreign keys make ON DELETE CASCADE work.
          conn.pragma("journal_mode = WAL");
          conn.pragma("foreign_keys = ON");
          conn.pragma("busy_timeout = 5000");
          conn.pragma("synchronous = NORMAL");
          conn.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
          conn.pragma(`mmap_size = ${SQLITE_MMAP_BYTES}`);
          done(null, conn);
        },
      },
    });
  }
  return knexFactory({
    client: "pg",
    connection: { connectionString: databaseUrl, connectionTimeoutMillis: 5000 },
    pool: { min: 0, max: 10 },
  });
}

interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

/** The connection pool now: connections lent out, idle, and requests waiting for one. */
export function poolUse(db: Knex): { used: number; free: number; pending: number } {
  const pool = (db.client as { pool?: TarnPool }).pool;
  if (!pool) return { used: 0, free: 0, pending: 0 };
  return { used: pool.numUsed(), free: pool.numFree(), pending: pool.numPendingAcquires() };
}

/** Closes the database, with the connection of its hot statements (db/hot.ts). */
export async function closeDatabase(db: Db): Promise<void> {
  closeHot(db);
  await db.destroy();
}

/** Any fixed number: the PostgreSQL advisory lock that one migrating process holds. */
const MIGRATION_LOCK = 7_305_119_402;

/**
 * Brings the schema up to date. On PostgreSQL several server processes may start at once: the
 * first takes an advisory lock and migrates, the others wait for it and then find nothing to do
 * (knex's own lock table makes a latecomer fail with "Migration table is already locked", and two
 * first starts race to create that table).
 */
export async function migrate(db: Db): Promise<void> {
  if (!isPostgres(db)) {
    await db.migrate.latest({ migrationSource });
    return;
  }
  const conn = (await db.client.acquireConnection()) as pg.Client;
  try {
    await conn.query("select pg_advisory_lock($1)", [MIGRATION_LOCK]);
    try {
      await db.migrate.latest({ migrationSource });
    } finally {
      await conn.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK]);
    }
  } finally {
    await db.client.releaseConnection(conn);
  }
}

/** One round trip to the database (for /health). */
export async function pingDatabase(db: Knex): Promise<void> {
  await db.raw("select 1");
}

export function isPostgres(db: Knex): boolean {
  return db.client.config.client === "pg";
}

/**
 * Locks the selected rows until the transaction ends. PostgreSQL takes a row lock
 * (`FOR UPDATE`); SQLite needs none: its one connection runs one transaction at a time, so a
 * transaction already excludes every other writer and reader of our pool.
 */
export function lockForUpdate<Q extends Knex.QueryBuilder>(db: Knex, q: Q): Q {
  return (isPostgres(db) ? q.forUpdate() : q) as Q;
}

/** As lockForUpdate, skipping rows another transaction holds (work queues: the sweeper). */
export function lockSkipLocked<Q extends Knex.QueryBuilder>(db: Knex, q: Q): Q {
  return (isPostgres(db) ? q.forUpdate().skipLocked() : q) as Q;
}

/** Whether an error is a unique-constraint violation on either database. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === "23505" || e?.code === "SQLITE_CONSTRAINT_UNIQUE" || /UNIQUE constraint failed/.test(e?.message ?? "");
}

/** SQLite gives 0/1 for booleans; PostgreSQL gives true/false. */
export function bool(v: unknown): boolean {
  return v === true || v === 1 || v === "1";
}
