import type { Knex } from "knex";

/** A sign-in through the OpenID provider under way (the browser is at the provider). */
export interface SsoSignInRow {
  id: string;
  /** SHA-256 of the `state` sent to the provider, which it hands back. */
  state_hash: string;
  /** SHA-256 of the `sf_sso` cookie of the browser that started it. */
  browser_hash: string;
  nonce: string;
  code_verifier: string;
  /** Where to go once signed in (a path on this server), or null. */
  next_path: string | null;
  created_at: string;
  expires_at: string;
}

export async function insertSsoSignIn(db: Knex, row: SsoSignInRow): Promise<void> {
  await db("sso_sign_ins").insert(row);
}

/**
 * Takes (reads and deletes) the sign-in with this state. Only the request whose DELETE removed
 * the row gets it: a callback replayed, or two at once, finds nothing.
 */
export async function takeSsoSignIn(db: Knex, stateHash: string): Promise<SsoSignInRow | undefined> {
  const row = await db<SsoSignInRow>("sso_sign_ins").where({ state_hash: stateHash }).first();
  if (!row) return undefined;
  return (await db("sso_sign_ins").where({ id: row.id }).delete()) > 0 ? row : undefined;
}

/** Deletes sign-ins that expired before `before` (never finished). */
export async function deleteExpiredSsoSignIns(db: Knex, before: string): Promise<number> {
  return db("sso_sign_ins").where("expires_at", "<", before).delete();
}
