import type { Knex } from "knex";
import { isPostgres } from "./knex.js";

/** The instance's policy as stored: rules and role overrides as JSON text. */
export interface InstancePolicyRow {
  rules: string;
  roles: string;
  updated_at: string;
  updated_by: string | null;
}

const ID = 1;

/** The stored policy, or undefined when none was ever set. */
export async function readInstancePolicy(db: Knex): Promise<InstancePolicyRow | undefined> {
  return db("instance_policy").where({ id: ID }).first<InstancePolicyRow | undefined>("rules", "roles", "updated_at", "updated_by");
}

/**
 * The stored policy under a lock until the transaction ends (PostgreSQL: the row, or, before the
 * first one exists, a transaction-wide advisory lock, so two first PUTs do not both read "none").
 */
export async function lockInstancePolicy(trx: Knex): Promise<InstancePolicyRow | undefined> {
  if (isPostgres(trx)) {
    await trx.raw("select pg_advisory_xact_lock(?)", [POLICY_LOCK]);
  }
  return readInstancePolicy(trx);
}

/** Any fixed number, unlike the others (migrations 402, storage migrate 403): the advisory lock of a policy change (PostgreSQL). */
const POLICY_LOCK = 7_305_119_442;

/** Replaces the stored policy (inserting the row the first time). */
export async function writeInstancePolicy(db: Knex, row: InstancePolicyRow): Promise<void> {
  await db("instance_policy")
    .insert({ id: ID, ...row })
    .onConflict("id")
    .merge(["rules", "roles", "updated_at", "updated_by"]);
}
