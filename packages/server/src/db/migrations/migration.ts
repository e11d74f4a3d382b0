import type { Knex } from "knex";

/** One schema change: `up` applies it, `down` undoes it. */
export interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/**
 * A timestamp column. Timestamps are ISO-8601 UTC strings of fixed width in both databases, which
 * keeps ordering and comparisons identical on SQLite and PostgreSQL.
 */
export const ts = (t: Knex.CreateTableBuilder, name: string) => t.string(name, 24);
