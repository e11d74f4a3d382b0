import crypto from "node:crypto";
import type { Knex } from "knex";
import type { components } from "../generated/api.js";
import { ApiError, ValidationFailed } from "../errors.js";
import { findUserByEmail } from "../db/users.js";
import {
  deleteTokensOfPolicy,
  deleteTrustPolicyRow,
  findTrustPolicy,
  insertTrustPolicy,
  listTrustPolicyRows,
  updateTrustPolicyRow,
  type TrustPolicyRow,
  type TrustPolicyWithUser,
} from "../db/trust-policies.js";
import { insertAuditEvent, type AuditEventType } from "../db/audit-events.js";
import { isGlob } from "../oidc/glob.js";
import type { Scope } from "../policies/index.js";
import { nowIso, type Client, type Principal, type Services } from "./context.js";
import { cleanText } from "./text.js";
import { canonicalId } from "./users.js";

type Schemas = components["schemas"];
export type TrustPolicy = Schemas["TrustPolicy"];
type CreateInput = Schemas["TrustPolicyCreateRequest"];
type UpdateInput = Schemas["TrustPolicyUpdateRequest"];

export const GITHUB_ISSUER = "https://token.actions.githubusercontent.com";

/**
 * Issuers shared by everyone on a public platform, and the numeric claims one of which a policy
 * for them must pin to exact digits. Names (`repository`, `sub`) can be taken over after a rename
 * or a deletion; the numeric ids are never reused.
 */
export const PINNED_ISSUERS: Readonly<Record<string, readonly string[]>> = {
  [GITHUB_ISSUER]: ["repository_id", "repository_owner_id"],
  "https://gitlab.com": ["project_id", "namespace_id"],
};

/** Scopes a pipeline never gets: running the instance, or minting tokens that outlive the job. */
export const SCOPES_NOT_FOR_PIPELINES: readonly Scope[] = ["admin", "tokens:write"];

export const DEFAULT_TOKEN_TTL_SECONDS = 900;
const CLAIM_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

class TrustPolicyNotFound extends ApiError {
  constructor() {
    super(404, "trust_policy_not_found", "Trust policy not found");
  }
}

class TrustPolicyRefused extends ApiError {
  constructor(code: "trust_policy_unpinned" | "issuer_insecure", detail: string, path: string) {
    super(422, code, detail, { errors: [{ path, message: detail }] });
  }
}

function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export function toTrustPolicy(row: TrustPolicyWithUser): TrustPolicy {
  return {
    id: row.id,
    name: row.name,
    issuer: row.issuer,
    audience: row.audience,
    conditions: parseJson<Record<string, string>>(row.conditions, {}),
    user_email: row.u_email,
    scopes: parseJson<Scope[]>(row.scopes, []),
    token_ttl_seconds: row.token_ttl_seconds,
    allowed_events: parseJson<TrustPolicy["allowed_events"]>(row.allowed_events, []),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** The issuer URL as tokens name it: https (http only when the operator allows it), no query. */
function checkIssuer(s: Services, issuer: string): string {
  const value = issuer.trim();
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ValidationFailed("issuer must be the issuer's URL, such as https://token.actions.githubusercontent.com", "/body/issuer");
  }
  if (url.protocol === "http:" && !s.config.oidcAllowInsecureIssuers) {
    throw new TrustPolicyRefused(
      "issuer_insecure",
      "The issuer must be an https:// URL (an http:// issuer is accepted only with SF_OIDC_ALLOW_INSECURE_ISSUERS=true, for tests and labs)",
      "/body/issuer",
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new ValidationFailed("issuer must be an https:// URL", "/body/issuer");
  if (url.username || url.password || url.search || url.hash) {
    throw new ValidationFailed("issuer must be a plain URL, without credentials, query or fragment", "/body/issuer");
  }
  return value;
}

function checkConditions(conditions: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [claim, value] of Object.entries(conditions)) {
    if (!CLAIM_NAME.test(claim))
      throw new ValidationFailed(`Condition names are claim names: letters, digits and _ . : - (got ${JSON.stringify(claim.slice(0, 100))})`, "/body/conditions");
    if (CONTROL.test(value) || value.trim() === "")
      throw new ValidationFailed(`The condition on '${claim}' must be a value without control characters`, `/body/conditions/${claim}`);
    out[claim] = value;
  }
  if (Object.keys(out).length === 0) throw new ValidationFailed("A trust policy needs at least one condition on the token's claims", "/body/conditions");
  return out;
}

/**
 * The numeric claims a policy for this issuer must pin, if it is a shared public one (GitHub's
 * enterprise issuers, `<github issuer>/<enterprise>`, included).
 */
function pinsFor(issuer: string): readonly string[] | undefined {
  const base = issuer.replace(/\/+$/, "");
  return PINNED_ISSUERS[base] ?? (base.startsWith(`${GITHUB_ISSUER}/`) ? PINNED_ISSUERS[GITHUB_ISSUER] : undefined);
}

/** A policy for a shared public issuer must pin one of its numeric ids to exact digits. */
function checkPinned(issuer: string, conditions: Record<string, string>): void {
  const pins = pinsFor(issuer);
  if (!pins) return;
  if (pins.some((claim) => conditions[claim] !== undefined && /^\d+$/.test(conditions[claim]!) && !isGlob(conditions[claim]!))) return;
  throw new TrustPolicyRefused(
    "trust_policy_unpinned",
    `A policy for ${issuer} must pin ${pins.map((p) => `'${p}'`).join(" or ")} to exact digits: names such as 'repository' or 'sub' can be reused by someone else after a rename or a deletion`,
    "/body/conditions",
  );
}

function checkScopes(scopes: Scope[]): Scope[] {
  const refused = scopes.filter((x) => SCOPES_NOT_FOR_PIPELINES.includes(x));
  if (refused.length > 0) {
    throw new ValidationFailed(`A pipeline's token cannot hold ${refused.map((x) => `'${x}'`).join(", ")}`, "/body/scopes");
  }
  return [...new Set(scopes)];
}

async function userIdFor(s: Services, email: string): Promise<string> {
  const user = await findUserByEmail(s.db, email.trim());
  if (!user) throw new ValidationFailed("No user has this email: the minted tokens must act for an existing account", "/body/user_email");
  return user.id;
}

async function audit(s: Services, db: Knex, type: AuditEventType, actor: Principal, subjectId: string, data: unknown, client: Client | undefined): Promise<void> {
  await insertAuditEvent(db, {
    id: crypto.randomUUID(),
    type,
    actor_user_id: actor.userId,
    subject_id: subjectId,
    data: JSON.stringify(data),
    client_address: client?.address?.slice(0, 100) ?? null,
    user_agent: client?.userAgent?.slice(0, 500) ?? null,
    created_at: nowIso(s.clock),
  });
}

/** `GET /admin/trust-policies` (the `admin` scope is checked by the router). */
export async function listTrustPolicies(s: Services): Promise<TrustPolicy[]> {
  return (await listTrustPolicyRows(s.db)).map(toTrustPolicy);
}

/** `GET /admin/trust-policies/{id}`. */
export async function getTrustPolicy(s: Services, id: string): Promise<TrustPolicy> {
  const row = await findTrustPolicy(s.db, canonicalId(id));
  if (!row) throw new TrustPolicyNotFound();
  return toTrustPolicy(row);
}

/** A whole policy's fields checked (at creation, and after a change is applied), as the row's columns. */
async function checkedColumns(s: Services, input: CreateInput): Promise<Omit<TrustPolicyRow, "id" | "created_at" | "updated_at">> {
  const name = cleanText(input.name, "/body/name");
  if (name === "") throw new ValidationFailed("name must not be blank", "/body/name");
  const issuer = checkIssuer(s, input.issuer);
  const audience = cleanText(input.audience, "/body/audience");
  if (audience === "") throw new ValidationFailed("audience must not be blank", "/body/audience");
  const conditions = checkConditions(input.conditions);
  checkPinned(issuer, conditions);
  return {
    name,
    issuer,
    audience,
    conditions: JSON.stringify(conditions),
    user_id: await userIdFor(s, input.user_email),
    scopes: JSON.stringify(checkScopes(input.scopes)),
    token_ttl_seconds: input.token_ttl_seconds ?? DEFAULT_TOKEN_TTL_SECONDS,
    allowed_events: JSON.stringify([...new Set(input.allowed_events ?? [])]),
  };
}

/** `POST /admin/trust-policies`. */
export async function createTrustPolicy(s: Services, admin: Principal, input: CreateInput, client?: Client): Promise<TrustPolicy> {
  const now = nowIso(s.clock);
  const row: TrustPolicyRow = { id: crypto.randomUUID(), ...(await checkedColumns(s, input)), created_at: now, updated_at: now };
  return s.db.transaction(async (trx) => {
    await insertTrustPolicy(trx, row);
    const created = toTrustPolicy((await findTrustPolicy(trx, row.id))!);
    await audit(s, trx, "trust_policy.created", admin, row.id, { policy: created }, client);
    return created;
  });
}

/** `PATCH /admin/trust-policies/{id}`: the fields given replace the policy's; the result is checked as a new one. */
export async function updateTrustPolicy(s: Services, admin: Principal, id: string, input: UpdateInput, client?: Client): Promise<TrustPolicy> {
  const current = await getTrustPolicy(s, id);
  const columns = await checkedColumns(s, {
    name: input.name ?? current.name,
    issuer: input.issuer ?? current.issuer,
    audience: input.audience ?? current.audience,
    conditions: input.conditions ?? current.conditions,
    user_email: input.user_email ?? current.user_email,
    scopes: input.scopes ?? current.scopes,
    token_ttl_seconds: input.token_ttl_seconds ?? current.token_ttl_seconds,
    allowed_events: input.allowed_events ?? current.allowed_events,
  });
  return s.db.transaction(async (trx) => {
    if (!(await updateTrustPolicyRow(trx, current.id, { ...columns, updated_at: nowIso(s.clock) }))) throw new TrustPolicyNotFound();
    const updated = toTrustPolicy((await findTrustPolicy(trx, current.id))!);
    await audit(s, trx, "trust_policy.updated", admin, current.id, { before: current, after: updated }, client);
    return updated;
  });
}

/** `DELETE /admin/trust-policies/{id}`: the policy and the tokens it minted. */
export async function deleteTrustPolicy(s: Services, admin: Principal, id: string, client?: Client): Promise<void> {
  const current = await getTrustPolicy(s, id);
  await s.db.transaction(async (trx) => {
    if (!(await deleteTrustPolicyRow(trx, current.id))) throw new TrustPolicyNotFound();
    const tokens = await deleteTokensOfPolicy(trx, current.id);
    await audit(s, trx, "trust_policy.deleted", admin, current.id, { policy: current, tokens_removed: tokens }, client);
  });
}
