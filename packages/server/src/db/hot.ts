import Database from "better-sqlite3";
import type { Knex } from "knex";
import type pg from "pg";
import { isPostgres, SQLITE_CACHE_KIB, SQLITE_MMAP_BYTES } from "./knex.js";

/**
 * Statements on the path of (nearly) every request, run without knex's query builder: knex
 * builds the SQL and (on SQLite) prepares the statement anew on every call, which cost more than
 * the lookup itself. Each is prepared once: on SQLite on a read-only connection of its own (WAL
 * lets it read while the main connection writes, and the lookup runs synchronously, never queuing
 * behind other queries for the one pooled connection); on PostgreSQL as a named prepared statement
 * on the pooled connections.
 */
interface Hot {
  get<T>(name: string, sql: string, params: unknown[]): Promise<T | undefined>;
  close(): void;
}

const hot = new WeakMap<Knex, Hot>();

/** The first row of a hot statement (`?` placeholders), prepared once per database. */
export function hotGet<T>(db: Knex, name: string, sql: string, params: unknown[]): Promise<T | undefined> {
  let h = hot.get(db);
  if (!h) {
    h = isPostgres(db) ? pgHot(db) : sqliteHot(db);
    hot.set(db, h);
  }
  return h.get<T>(name, sql, params);
}

/** Closes what hotGet opened for `db` (before `db.destroy()`). */
export function closeHot(db: Knex): void {
  hot.get(db)?.close();
  hot.delete(db);
}

function sqliteHot(db: Knex): Hot {
  const filename = (db.client.config.connection as { filename: string }).filename;
  // An in-memory database cannot be opened twice: use knex's own connection then.
  if (filename === ":memory:") return viaKnex(db);
  const conn = new Database(filename, { readonly: true, fileMustExist: true });
  conn.pragma("busy_timeout = 5000");
  conn.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
  conn.pragma(`mmap_size = ${SQLITE_MMAP_BYTES}`);
  const statements = new Map<string, Database.Statement>();
  return {
    async get<T>(name: string, sql: string, params: unknown[]) {
      let st = statements.get(name);
      if (!st) {
        st = conn.prepare(sql);
        statements.set(name, st);
      }
      return st.get(...params) as T | undefined;
    },
    close: () => conn.close(),
  };
}

function pgHot(db: Knex): Hot {
  return {
    async get<T>(name: string, sql: string, params: unknown[]) {
      let n = 0;
      const text = sql.replace(/\?/g, () => `$${++n}`);
      const client = (await db.client.acquireConnection()) as pg.PoolClient;
      try {
        const r = await client.query({ name, text, values: params });
        return r.rows[0] as T | undefined;
      } finally {
        await db.client.releaseConnection(client);
      }
    },
    close: () => undefined,
  };
}

function viaKnex(db: Knex): Hot {
  return {
    async get<T>(_name: string, sql: string, params: unknown[]) {
      const rows = (await db.raw(sql, params as Knex.RawBinding[])) as T[];
      return rows[0];
    },
    close: () => undefined,
  };
}
