import path from "node:path";
import Database from "better-sqlite3";
import knexFactory, { type Knex } from "knex";

/** The file of an `sqlite://` URL (absolute); undefined for PostgreSQL and `:memory:`. */
export function sqliteFileOf(databaseUrl: string): string | undefined {
  if (!databaseUrl.startsWith("sqlite://")) return undefined;
  const file = databaseUrl.slice("sqlite://".length);
  return file === ":memory:" ? undefined : path.resolve(file);
}

/** Pages per step of SQLite's backup: all of them, so the copy is one read of one committed state. */
const ALL_PAGES = 0x7fffffff;

/**
 * Copies the SQLite database `liveFile` into the new file `dest` with SQLite's online backup API
 * while the server may be writing to it. All pages go in one step, under one read transaction, so
 * the copy is one committed state and is never restarted by a write (a step of 100 pages, the
 * default, starts again whenever another process writes in between). The copy is then switched
 * to a rollback journal: one self-contained file, with no `-wal` beside it. The server switches it
 * back to WAL when it opens it.
 */
export async function backupSqlite(liveFile: string, dest: string): Promise<void> {
  const live = new Database(liveFile, { fileMustExist: true, timeout: 30_000 });
  try {
    await live.backup(dest, { progress: () => ALL_PAGES });
  } finally {
    live.close();
  }
  const copy = new Database(dest, { fileMustExist: true });
  try {
    copy.pragma("journal_mode = DELETE");
  } finally {
    copy.close();
  }
}

/** What restore checks in a database file before putting it in place. */
export interface SqliteFileReport {
  /** SQLite's `PRAGMA quick_check`: "ok", or what is wrong. */
  check: string;
  /** `instance_meta.instance_id`; undefined when the table or row is missing. */
  instanceId: string | undefined;
}

/** Opens a copy of a SQLite database read-only and reports its health and instance id. */
export function inspectSqliteFile(file: string): SqliteFileReport {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma("quick_check") as { quick_check: string }[];
    const check = rows.map((r) => r.quick_check).join("; ");
    let instanceId: string | undefined;
    try {
      instanceId = (db.prepare("SELECT value FROM instance_meta WHERE name = 'instance_id'").get() as { value: string } | undefined)?.value;
    } catch {
      instanceId = undefined;
    }
    return { check, instanceId };
  } finally {
    db.close();
  }
}

/** A knex on a copy of a SQLite database (a backup's snapshot), for reading its rows. */
export function openSqliteCopy(file: string): Knex {
  return knexFactory({ client: "better-sqlite3", connection: { filename: file, options: { readonly: true } }, useNullAsDefault: true, pool: { min: 1, max: 1 } });
}

/**
 * Runs `fn` in a read-only REPEATABLE READ transaction of PostgreSQL whose snapshot is exported
 * (`pg_export_snapshot()`): a `pg_dump --snapshot=<id>` started while `fn` runs dumps exactly the
 * state `fn` reads. The snapshot can be imported only while this transaction is open.
 */
export async function withExportedSnapshot<T>(db: Knex, fn: (trx: Knex.Transaction, snapshot: string) => Promise<T>): Promise<T> {
  return db.transaction(
    async (trx) => {
      const got = await trx.raw("select pg_export_snapshot() as id");
      const id = (got as { rows: { id: string }[] }).rows[0]!.id;
      return fn(trx, id);
    },
    { isolationLevel: "repeatable read", readOnly: true },
  );
}

/** How many tables a PostgreSQL database has outside the system schemas (0: a new, empty database). */
export async function countUserTables(db: Knex): Promise<number> {
  const got = await db.raw("select count(*)::int as n from pg_catalog.pg_tables where schemaname not in ('pg_catalog', 'information_schema')");
  return (got as { rows: { n: number }[] }).rows[0]!.n;
}
