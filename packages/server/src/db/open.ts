import knexFactory from "knex";
import { credentialsMisread, redactUrl, urlSecrets } from "../util/redact-url.js";
import { closeDatabase, migrate, openDatabase, type Db } from "./knex.js";

/**
 * SF_DATABASE_URL names a database that cannot be reached, opened or migrated. Its message is one
 * line naming the database (password hidden) and the reason, for an operator to act on.
 */
export class DatabaseUnavailable extends Error {
  constructor(
    readonly database: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot use the database ${database}: ${reason}`, options);
  }
}

const HINTS: Record<string, string> = {
  ECONNREFUSED: "connection refused, is the database server running and listening there?",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name could not be resolved",
  ETIMEDOUT: "no answer (timed out)",
  EHOSTUNREACH: "host unreachable",
  "28P01": "wrong user name or password",
};

/** One line saying why: the driver's message (an AggregateError's parts), secrets scrubbed. */
function reasonOf(err: unknown, databaseUrl: string): string {
  if (credentialsMisread(databaseUrl)) {
    return (
      "the URL could not be read as written (the driver's message is not shown: it may hold part of the password); " +
      "percent-encode / # ? @ in the user name and password (%2F %23 %3F %40)"
    );
  }
  const e = err as { message?: string; code?: string; errors?: { message?: string; code?: string }[] };
  let text = e?.message?.trim() || "";
  let code = e?.code;
  if (!text && Array.isArray(e?.errors)) {
    text = [...new Set(e.errors.map((x) => x?.message).filter(Boolean))].join("; ");
    code ??= e.errors.find((x) => x?.code)?.code;
  }
  if (!text) text = code ?? String(err);
  const hint = code ? HINTS[code] : undefined;
  if (hint) text = `${hint} (${text})`;
  for (const secret of urlSecrets(databaseUrl)) text = text.split(secret).join("***");
  return text.replace(/\s*\n\s*/g, " ");
}

/**
 * Connects once, quietly, before the real pool does: knex prints a failed connection's stack
 * trace with console.log (outside our logger), which is noise in front of the one clear line.
 */
async function probeDatabase(databaseUrl: string): Promise<void> {
  const quiet = { warn() {}, error() {}, deprecate() {}, debug() {} };
  const probe = databaseUrl.startsWith("sqlite://")
    ? knexFactory({
        client: "better-sqlite3",
        connection: { filename: databaseUrl.slice("sqlite://".length) },
        useNullAsDefault: true,
        pool: { min: 0, max: 1 },
        log: quiet,
      })
    : knexFactory({
        client: "pg",
        connection: { connectionString: databaseUrl, connectionTimeoutMillis: 5000 },
        pool: { min: 0, max: 1 },
        acquireConnectionTimeout: 10_000,
        log: quiet,
      });
  try {
    await probe.raw("select 1");
  } finally {
    await probe.destroy().catch(() => undefined);
  }
}

/**
 * Opens the database and brings its schema up to date, or throws DatabaseUnavailable (unreachable
 * server, unknown host, missing database, unwritable SQLite path, failed migration).
 */
export async function openMigratedDatabase(databaseUrl: string): Promise<Db> {
  let db: Db | undefined;
  try {
    db = openDatabase(databaseUrl);
    await probeDatabase(databaseUrl);
    await migrate(db);
    return db;
  } catch (err) {
    if (db) await closeDatabase(db).catch(() => undefined);
    throw new DatabaseUnavailable(redactUrl(databaseUrl), reasonOf(err, databaseUrl), { cause: err });
  }
}
