import path from "node:path";
import Database from "better-sqlite3";
import type { Knex } from "knex";
import type pg from "pg";

/** Another server process already serves this SQLite database. */
export class AnotherInstanceRunning extends Error {}

/**
 * SQLite mode is one server process: its rate-limit counters live in memory, and two processes
 * writing one database file through a shared data dir would step on each other's temp files and
 * sweeps. This holds an exclusive SQLite lock on `<database>.instance-lock` for as long as the
 * server runs, so a second process on the same database refuses to start with one clear line.
 * The lock is the operating system's (fcntl, as SQLite uses for every database): it goes away
 * with the process however that ends, `kill -9` included, so a crash never leaves a stale lock
 * to clean up by hand. Returns the release function; nothing to hold for `:memory:` or PostgreSQL.
 */
export function holdInstanceLock(databaseUrl: string): () => void {
  if (!databaseUrl.startsWith("sqlite://")) return () => {};
  const file = databaseUrl.slice("sqlite://".length);
  if (file === ":memory:") return () => {};
  const release = tryExclusiveLock(`${path.resolve(file)}.instance-lock`);
  if (!release) {
    throw new AnotherInstanceRunning(
      `another SpeedyFiles server is already running on ${path.resolve(file)}: SQLite serves one process. ` +
        "Stop the other one, give this one its own SF_DATA_DIR, or run several on PostgreSQL (SF_DATABASE_URL=postgres://…).",
    );
  }
  return release;
}

/**
 * An exclusive operating-system lock on `lockFile` (as holdInstanceLock), for a one-at-a-time
 * command; undefined when another process holds it. Released by the returned function or when the
 * process ends, however it ends.
 */
export function tryExclusiveLock(lockFile: string): (() => void) | undefined {
  const lock = new Database(lockFile, { timeout: 0 });
  try {
    lock.pragma("locking_mode = EXCLUSIVE");
    // The first write takes the exclusive lock, and EXCLUSIVE locking mode keeps it until close.
    lock.exec("CREATE TABLE IF NOT EXISTS holder (pid INTEGER)");
    lock.exec("BEGIN EXCLUSIVE");
    lock.exec("DELETE FROM holder");
    lock.prepare("INSERT INTO holder (pid) VALUES (?)").run(process.pid);
    lock.exec("COMMIT");
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code === "SQLITE_BUSY") return undefined;
    throw err;
  }
  return () => lock.close();
}

/**
 * A PostgreSQL session advisory lock on a connection of its own, held until the returned function
 * releases it (or the process ends); undefined when another session holds it.
 */
export async function tryAdvisoryLock(db: Knex, key: number): Promise<(() => Promise<void>) | undefined> {
  const conn = (await db.client.acquireConnection()) as pg.Client;
  const got = await conn.query("select pg_try_advisory_lock($1) as ok", [key]).catch(async (err: unknown) => {
    await db.client.releaseConnection(conn);
    throw err;
  });
  if (!(got.rows[0] as { ok: boolean }).ok) {
    await db.client.releaseConnection(conn);
    return undefined;
  }
  return async () => {
    await conn.query("select pg_advisory_unlock($1)", [key]).catch(() => undefined);
    await db.client.releaseConnection(conn);
  };
}
