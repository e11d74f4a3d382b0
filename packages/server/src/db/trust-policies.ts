import type { Knex } from "knex";

/** A row of `trust_policies`: JSON text in `conditions`, `scopes` and `allowed_events`. */
export interface TrustPolicyRow {
  id: string;
  name: string;
  issuer: string;
  audience: string;
  conditions: string;
  user_id: string;
  scopes: string;
  token_ttl_seconds: number;
  allowed_events: string;
  created_at: string;
  updated_at: string;
}

/** A policy with what the API shows and the exchange needs of its user. */
export interface TrustPolicyWithUser extends TrustPolicyRow {
  u_email: string;
  u_role: string;
  u_disabled: unknown;
}

function withUser(db: Knex) {
  return db("trust_policies as p")
    .join("users as u", "u.id", "p.user_id")
    .select("p.*", "u.email as u_email", "u.role as u_role", "u.disabled as u_disabled")
    .orderBy([{ column: "p.created_at" }, { column: "p.id" }]);
}

export async function insertTrustPolicy(db: Knex, row: TrustPolicyRow): Promise<void> {
  await db("trust_policies").insert(row);
}

export async function listTrustPolicyRows(db: Knex): Promise<TrustPolicyWithUser[]> {
  return withUser(db) as Promise<TrustPolicyWithUser[]>;
}

/** The policies naming this issuer exactly, oldest first: the only ones a token of it can meet. */
export async function listTrustPoliciesByIssuer(db: Knex, issuer: string): Promise<TrustPolicyWithUser[]> {
  return withUser(db).where("p.issuer", issuer) as Promise<TrustPolicyWithUser[]>;
}

export async function findTrustPolicy(db: Knex, id: string): Promise<TrustPolicyWithUser | undefined> {
  return (await withUser(db).where("p.id", id).first()) as TrustPolicyWithUser | undefined;
}

export async function updateTrustPolicyRow(db: Knex, id: string, patch: Partial<TrustPolicyRow>): Promise<boolean> {
  return (await db("trust_policies").where({ id }).update(patch)) > 0;
}

export async function deleteTrustPolicyRow(db: Knex, id: string): Promise<boolean> {
  return (await db("trust_policies").where({ id }).delete()) > 0;
}

/** Removes federated tokens that expired before `before` (the sweeper: one row per CI job otherwise piles up). */
export async function deleteExpiredFederatedTokens(db: Knex, before: string): Promise<number> {
  return db("api_tokens").where({ kind: "federated" }).where("expires_at", "<", before).delete();
}

/** Removes the API tokens a policy minted (they stop working at once). */
export async function deleteTokensOfPolicy(db: Knex, policyId: string): Promise<number> {
  return db("api_tokens").where({ trust_policy_id: policyId, kind: "federated" }).delete();
}
