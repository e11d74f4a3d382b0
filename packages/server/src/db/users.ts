import type { Knex } from "knex";
import { lockForUpdate } from "./knex.js";

export type Role = "user" | "admin";

export interface UserRow {
  id: string;
  email: string;
  name: string;
  role: Role;
  password_hash: string;
  disabled: boolean;
  created_at: string;
  updated_at: string;
}

export async function findUserById(db: Knex, id: string): Promise<UserRow | undefined> {
  return db<UserRow>("users").where({ id }).first();
}

/** Locks a user's row for the rest of the transaction `db` (changes to one account's credentials queue up). */
export async function lockUser(db: Knex, id: string): Promise<UserRow | undefined> {
  return lockForUpdate(db, db<UserRow>("users").where({ id })).first();
}

export async function findUserByEmail(db: Knex, email: string): Promise<UserRow | undefined> {
  return db<UserRow>("users").where({ email: email.toLowerCase() }).first();
}

export async function insertUser(db: Knex, row: UserRow): Promise<void> {
  await db("users").insert(row);
}

export async function updateUserRow(db: Knex, id: string, patch: Partial<UserRow>): Promise<void> {
  await db("users").where({ id }).update(patch);
}

export async function countUsers(db: Knex): Promise<number> {
  const row = await db("users").count<{ n: number | string }[]>({ n: "*" }).first();
  return Number(row?.n ?? 0);
}

/** How many enabled admins there are (to keep the last one when single sign-on would demote them). */
export async function countEnabledAdmins(db: Knex): Promise<number> {
  const row = await db("users").where({ role: "admin", disabled: false }).count<{ n: number | string }[]>({ n: "*" }).first();
  return Number(row?.n ?? 0);
}

export async function listUserRows(db: Knex, opts: { q?: string; limit: number; offset: number }): Promise<{ rows: UserRow[]; total: number }> {
  const base = db<UserRow>("users");
  if (opts.q) {
    const like = `%${escapeLike(opts.q.toLowerCase())}%`;
    base.where((w) => w.whereRaw("lower(email) like ? escape '\\'", [like]).orWhereRaw("lower(name) like ? escape '\\'", [like]));
  }
  const [countRow] = await base.clone().clearSelect().count<{ n: number | string }[]>({ n: "*" });
  const rows = await base
    .clone()
    .orderBy([{ column: "created_at" }, { column: "id" }])
    .limit(opts.limit)
    .offset(opts.offset);
  return { rows, total: Number(countRow?.n ?? 0) };
}

/** Escapes LIKE wildcards so a search for `50%` matches the text, not everything. */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
