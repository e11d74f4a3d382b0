import crypto from "node:crypto";
import type { SsoConfig } from "../config.js";
import type { SignInMethod } from "../db/sessions.js";
import { insertSsoSignIn, takeSsoSignIn } from "../db/sso-sign-ins.js";
import { NotFound } from "../errors.js";
import { secretsEqual, sha256Hex } from "../security/secrets.js";
import { readIdentity } from "../sso/claims.js";
import { authorizationRequest, endSessionUrl, exchangeCode, ProviderError } from "../sso/client.js";
import { FORBIDDEN_IN_LINE } from "../util/forbidden-characters.js";
import { AccountRefused, auditSso, signInIdentity } from "./sso-accounts.js";
import type { Client, Services } from "./context.js";

/** How long a browser has at the provider before the sign-in it started can no longer finish. */
export const SSO_SIGN_IN_MINUTES = 10;

/** Why a sign-in through the provider did not sign anyone in. */
export type SsoFailure =
  | "sign_in_unknown"
  | "provider_unreachable"
  | "provider_error"
  | "provider_answer_invalid"
  | "email_missing"
  | "email_unverified"
  | "no_account"
  | "account_disabled";

/** A sign-in through the provider that ended without a session: the page says `message`. */
export class SsoSignInFailed extends Error {
  constructor(
    readonly failure: SsoFailure,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const UNREACHABLE =
  "The identity provider cannot be reached right now, so single sign-on is not available. Try again in a few minutes; if it keeps happening, tell your administrator.";
const INVALID = "The identity provider's answer could not be verified, so you are not signed in. Try again; if it keeps happening, tell your administrator.";

function ssoOf(s: Services): SsoConfig {
  if (!s.config.sso) throw new NotFound("not_found", "Single sign-on is not set up on this server.");
  return s.config.sso;
}

/** A provider's text for a page: one line, printable, short (the page escapes it too). */
function providerText(v: string | null, max: number): string {
  return (v ?? "").replace(new RegExp(FORBIDDEN_IN_LINE.source, "gu"), " ").trim().slice(0, max);
}

/**
 * Starts a sign-in: a fresh authorization request (state, nonce, PKCE verifier), kept for
 * SSO_SIGN_IN_MINUTES under the SHA-256 of its state and bound to the browser by the SHA-256 of
 * `browserSecret` (its `sf_sso` cookie). Returns where to send the browser.
 */
export async function beginSsoSignIn(s: Services, browserSecret: string, next: string | null): Promise<string> {
  const sso = ssoOf(s);
  let req: Awaited<ReturnType<typeof authorizationRequest>>;
  try {
    req = await authorizationRequest(sso);
  } catch (err) {
    s.logger.warn({ err: (err as Error).message }, "single sign-on: the identity provider cannot be used");
    throw new SsoSignInFailed("provider_unreachable", 502, UNREACHABLE);
  }
  const now = s.clock();
  await insertSsoSignIn(s.db, {
    id: crypto.randomUUID(),
    state_hash: sha256Hex(req.state),
    browser_hash: sha256Hex(browserSecret),
    nonce: req.nonce,
    code_verifier: req.codeVerifier,
    next_path: next,
    created_at: now.toISOString(),
    expires_at: new Date(now.getTime() + SSO_SIGN_IN_MINUTES * 60_000).toISOString(),
  });
  return req.url;
}

async function refuse(
  s: Services,
  client: Client,
  failure: SsoFailure,
  status: number,
  message: string,
  data: Record<string, unknown>,
  userId: string | null = null,
): Promise<never> {
  await auditSso(s.db, s, { type: "auth.sign_in_failed", actor: null, subject: userId, data: { method: "sso", reason: failure, ...data }, client });
  throw new SsoSignInFailed(failure, status, message);
}

/** The provider said no (`?error=…` on the callback): its code and description, shown as text. */
function providerErrorMessage(params: URLSearchParams): { message: string; error: string; status: number } {
  const error = /^[\x20-\x7e]{1,100}$/.test(params.get("error") ?? "") ? params.get("error")! : "unknown_error";
  const description = providerText(params.get("error_description"), 300);
  const status = error === "server_error" || error === "temporarily_unavailable" ? 502 : 403;
  return { error, status, message: `The identity provider did not sign you in (${error}${description ? `: ${description}` : ""}).` };
}

/**
 * Finishes a sign-in when the provider sends the browser back: the sign-in it started is taken
 * by its state (once; it must be this browser's and not expired), the code exchanged with its PKCE
 * verifier and nonce, the identity read from the verified claims, and the account signed in
 * (services/sso-accounts.ts). Every refusal after the state matched is in the audit trail as
 * `auth.sign_in_failed`; a state that matches nothing is not (anyone can send one).
 */
export async function finishSsoSignIn(s: Services, browserSecret: string | undefined, params: URLSearchParams, client: Client): Promise<{ secret: string; next: string | null }> {
  const sso = ssoOf(s);
  const state = params.get("state");
  const row = state && state.length <= 512 ? await takeSsoSignIn(s.db, sha256Hex(state)) : undefined;
  const mine = row !== undefined && browserSecret !== undefined && secretsEqual(row.browser_hash, sha256Hex(browserSecret));
  if (!row || !mine || row.expires_at <= s.clock().toISOString()) {
    throw new SsoSignInFailed(
      "sign_in_unknown",
      400,
      "This sign-in could not be finished: it took too long, was already used, or was started in another browser. Start again from the sign-in page.",
    );
  }
  if (params.has("error")) {
    const p = providerErrorMessage(params);
    return refuse(s, client, "provider_error", p.status, p.message, { error: p.error });
  }

  const callback = new URL(sso.redirectUri);
  for (const [k, v] of params) callback.searchParams.append(k, v);
  let claims: Awaited<ReturnType<typeof exchangeCode>>;
  try {
    claims = await exchangeCode(sso, callback, { state: state!, nonce: row.nonce, codeVerifier: row.code_verifier }, [sso.emailClaim, sso.groupsClaim]);
  } catch (err) {
    const failure = err instanceof ProviderError ? err.failure : "invalid";
    s.logger.warn({ err: (err as Error).message, failure }, "single sign-on: the code exchange failed");
    if (failure === "unreachable") throw new SsoSignInFailed("provider_unreachable", 502, UNREACHABLE);
    return refuse(s, client, "provider_answer_invalid", 502, INVALID, err instanceof ProviderError && err.error ? { error: err.error } : {});
  }

  const identity = readIdentity(claims, sso);
  if ("problem" in identity) {
    const message =
      identity.problem === "email_unverified"
        ? "Your email address is not verified at the identity provider, so it cannot sign you in here. Verify it there, then try again."
        : `The identity provider did not say which email address is yours (the "${sso.emailClaim}" claim), so you cannot be signed in. Tell your administrator.`;
    const email = typeof claims.email === "string" ? claims.email.slice(0, 254) : null;
    return refuse(s, client, identity.problem, 403, message, { email, subject: typeof claims.sub === "string" ? claims.sub.slice(0, 255) : null });
  }

  try {
    const { secret } = await signInIdentity(s, sso, identity, client);
    return { secret, next: row.next_path };
  } catch (err) {
    if (!(err instanceof AccountRefused)) throw err;
    const message =
      err.reason === "account_disabled"
        ? "Your account here is disabled. Ask an administrator to enable it."
        : `There is no account for ${identity.email} here, and this server does not create accounts at sign-in. Ask an administrator to create yours.`;
    return refuse(s, client, err.reason, 403, message, { email: identity.email }, err.userId);
  }
}

/**
 * Where to send a browser after it signed out: the provider's end_session_endpoint when
 * SF_SSO_SIGN_OUT=provider and the session was opened through it (and the provider has one);
 * otherwise null (the local sign-out is all).
 */
export async function ssoSignOutUrl(s: Services, method: SignInMethod): Promise<string | null> {
  const sso = s.config.sso;
  if (sso?.signOut !== "provider" || method !== "sso") return null;
  return endSessionUrl(sso);
}
