import crypto from "node:crypto";
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions, type LocalJWKSet } from "jose";
import type { components } from "../generated/api.js";
import { bool } from "../db/knex.js";
import { insertToken } from "../db/tokens.js";
import { listTrustPoliciesByIssuer, type TrustPolicyWithUser } from "../db/trust-policies.js";
import { insertAuditEvent } from "../db/audit-events.js";
import type { Role } from "../db/users.js";
import { matchesCondition } from "../oidc/glob.js";
import { OidcNotAllowed, OidcTokenRefused } from "../oidc/errors.js";
import { issuerKeys, refreshedIssuerKeys } from "../oidc/issuer-keys.js";
import { grantedScopes, SCOPES, type Scope } from "../policies/index.js";
import { generateApiToken, sha256Hex } from "../security/secrets.js";
import { nowIso, type Client, type Services } from "./context.js";
import { SCOPES_NOT_FOR_PIPELINES, toTrustPolicy } from "./trust-policies.js";

type OidcExchangeResponse = components["schemas"]["OidcExchangeResponse"];

/** Asymmetric signatures only: no `none`, no HMAC (whose "secret" would be the issuer's public key). */
export const OIDC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "Ed25519"];
/** Leeway on `exp`, `nbf` and `iat` for clocks that differ a little (the server's clock decides). */
export const OIDC_LEEWAY_SECONDS = 60;
/** A minted token lives at most this long, whatever its policy says. */
export const MAX_FEDERATED_TOKEN_SECONDS = 3600;
/**
 * GitHub events that run a workflow with the base repository's identity on behalf of code or
 * input from a fork; refused unless the policy opts in.
 */
export const REFUSED_EVENTS = ["pull_request_target", "workflow_run"];

/** The claims recorded in the audit trail besides those a policy's conditions name. */
const RECORDED_CLAIMS = ["iss", "sub", "aud", "jti", "event_name", "repository", "repository_id", "ref", "run_id"];

/**
 * `POST /auth/oidc`: a CI pipeline's OIDC ID token for a short-lived API token, if a trust policy
 * allows it. The checks run in this order, and each refusal names only the check that failed:
 * the algorithm (before anything is fetched), the issuer (a policy must name it: only then are its
 * keys fetched), signature and times, audience, refused events, then the policies' conditions.
 */
export async function exchangeOidcToken(s: Services, input: { token: string }, client: Client): Promise<OidcExchangeResponse> {
  const raw = input.token.trim();
  let alg: unknown;
  let unverified: JWTPayload;
  try {
    alg = decodeProtectedHeader(raw).alg;
    unverified = decodeJwt(raw);
  } catch {
    throw new OidcTokenRefused("oidc_token_invalid", "The token is not a signed JWT");
  }
  if (typeof alg !== "string" || !OIDC_ALGORITHMS.includes(alg)) {
    throw new OidcTokenRefused("oidc_algorithm_refused", `The token's signature algorithm is not accepted (accepted: ${OIDC_ALGORITHMS.join(", ")})`);
  }
  const issuer = unverified.iss;
  if (typeof issuer !== "string" || issuer === "") throw new OidcTokenRefused("oidc_token_invalid", "The token has no issuer (iss)");

  // Policies first: an issuer no policy names is never contacted.
  const policies = await listTrustPoliciesByIssuer(s.db, issuer);
  if (policies.length === 0) throw new OidcTokenRefused("oidc_issuer_unknown", "No trust policy accepts tokens from this issuer");

  const now = s.clock();
  const claims = await verify(s, raw, issuer, { issuer, algorithms: OIDC_ALGORITHMS, currentDate: now, clockTolerance: OIDC_LEEWAY_SECONDS, requiredClaims: ["exp", "iat"] });
  if (typeof claims.iat === "number" && claims.iat > now.getTime() / 1000 + OIDC_LEEWAY_SECONDS) {
    throw new OidcTokenRefused("oidc_token_not_yet_valid", "The token was issued in the future (iat)");
  }

  const audiences = typeof claims.aud === "string" ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
  // A disabled user's policies mint nothing (their tokens would answer 401 anyway).
  let candidates = policies.filter((p) => audiences.includes(p.audience) && !bool(p.u_disabled));
  if (!policies.some((p) => audiences.includes(p.audience))) {
    throw new OidcTokenRefused("oidc_audience_mismatch", "No trust policy for this issuer accepts the token's audience (aud)");
  }

  const event = typeof claims.event_name === "string" ? claims.event_name : undefined;
  if (event !== undefined && REFUSED_EVENTS.includes(event)) {
    candidates = candidates.filter((p) => allowedEvents(p).includes(event));
    if (candidates.length === 0) {
      await recordRefusal(s, "oidc_event_refused", claims, client);
      throw new OidcNotAllowed("oidc_event_refused", `Tokens of '${event}' workflows are refused unless a trust policy allows that event`);
    }
  }

  // The oldest policy whose every condition holds.
  const policy = candidates.find((p) =>
    Object.entries(conditionsOf(p)).every(([claim, pattern]) => {
      const value = claimString(claims[claim]);
      return value !== undefined && matchesCondition(pattern, value);
    }),
  );
  if (!policy) {
    await recordRefusal(s, "oidc_no_matching_policy", claims, client);
    throw new OidcNotAllowed("oidc_no_matching_policy", "No trust policy allows this token");
  }
  return mint(s, policy, claims, client);
}

async function verify(s: Services, raw: string, issuer: string, options: JWTVerifyOptions): Promise<JWTPayload> {
  const attempt = async (keys: LocalJWKSet) => (await jwtVerify(raw, keys, options)).payload;
  try {
    try {
      return await attempt(await issuerKeys(s, issuer));
    } catch (err) {
      // A key the cached set lacks: the issuer may have rotated its keys since (at most once per cooldown).
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      const fresh = await refreshedIssuerKeys(s, issuer);
      if (!fresh) throw err;
      return await attempt(fresh);
    }
  } catch (err) {
    throw refusalOf(err);
  }
}

/** jose's error as our answer (anything that is not jose's goes on as it is). */
function refusalOf(err: unknown): unknown {
  if (err instanceof errors.JWTExpired) return new OidcTokenRefused("oidc_token_expired", "The token has expired (exp)");
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "nbf" || err.claim === "iat") return new OidcTokenRefused("oidc_token_not_yet_valid", `The token is not valid yet (${err.claim})`);
    return new OidcTokenRefused("oidc_token_invalid", `The token's '${err.claim}' claim is missing or malformed`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return new OidcTokenRefused("oidc_algorithm_refused", "The token's signature algorithm is not accepted");
  if (err instanceof errors.JWKSNoMatchingKey) return new OidcTokenRefused("oidc_key_unknown", "The token was signed with a key the issuer does not publish (kid)");
  if (err instanceof errors.JWSSignatureVerificationFailed) return new OidcTokenRefused("oidc_token_invalid", "The token's signature does not verify");
  if (err instanceof errors.JOSEError) return new OidcTokenRefused("oidc_token_invalid", "The token is not a valid signed JWT");
  return err;
}

function conditionsOf(p: TrustPolicyWithUser): Record<string, string> {
  return toTrustPolicy(p).conditions;
}

function allowedEvents(p: TrustPolicyWithUser): string[] {
  return toTrustPolicy(p).allowed_events;
}

/** A claim as a condition sees it: strings as they are, numbers and booleans as text, nothing else. */
function claimString(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "boolean") return String(value);
  return undefined;
}

/** The claims worth keeping: the usual identifiers, plus (for a match) those its conditions named. */
function recordedClaims(claims: JWTPayload, extra: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of [...RECORDED_CLAIMS, ...extra]) {
    const v = claims[name];
    if (v !== undefined && (typeof v !== "string" || v.length <= 500)) out[name] = v;
  }
  return out;
}

async function recordRefusal(s: Services, code: string, claims: JWTPayload, client: Client): Promise<void> {
  await insertAuditEvent(s.db, {
    id: crypto.randomUUID(),
    type: "oidc.refused",
    actor_user_id: null,
    subject_id: null,
    data: JSON.stringify({ code, claims: recordedClaims(claims) }),
    client_address: client.address?.slice(0, 100) ?? null,
    user_agent: client.userAgent?.slice(0, 500) ?? null,
    created_at: nowIso(s.clock),
  });
}

async function mint(s: Services, policy: TrustPolicyWithUser, claims: JWTPayload, client: Client): Promise<OidcExchangeResponse> {
  const view = toTrustPolicy(policy);
  const granted = grantedScopes(policy.u_role as Role, view.scopes);
  const scopes: Scope[] = SCOPES.filter((x) => granted.has(x) && !SCOPES_NOT_FOR_PIPELINES.includes(x));
  const now = s.clock();
  const ttl = Math.min(policy.token_ttl_seconds, MAX_FEDERATED_TOKEN_SECONDS);
  const expiresAt = new Date(now.getTime() + ttl * 1000).toISOString();
  const raw = generateApiToken();
  const tokenId = crypto.randomUUID();
  await s.db.transaction(async (trx) => {
    await insertToken(trx, {
      id: tokenId,
      user_id: policy.user_id,
      name: `ci: ${policy.name}`.slice(0, 100),
      prefix: raw.slice(0, 11),
      token_hash: sha256Hex(raw),
      created_at: now.toISOString(),
      expires_at: expiresAt,
      last_used_at: null,
      revoked_at: null,
      scopes: JSON.stringify(scopes),
      kind: "federated",
      trust_policy_id: policy.id,
    });
    await insertAuditEvent(trx, {
      id: crypto.randomUUID(),
      type: "oidc.exchanged",
      actor_user_id: policy.user_id,
      subject_id: policy.id,
      data: JSON.stringify({
        policy: { id: policy.id, name: policy.name },
        token: { id: tokenId, prefix: raw.slice(0, 11), expires_at: expiresAt, scopes },
        matched: Object.fromEntries(Object.keys(view.conditions).map((c) => [c, claims[c]])),
        claims: recordedClaims(claims),
      }),
      client_address: client.address?.slice(0, 100) ?? null,
      user_agent: client.userAgent?.slice(0, 500) ?? null,
      created_at: now.toISOString(),
    });
  });
  s.logger.info({ trustPolicyId: policy.id, tokenId, sub: claimString(claims.sub) }, "CI identity exchanged for a token");
  return { token: raw, expires_at: expiresAt, scopes };
}
