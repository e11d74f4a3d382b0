import * as oidc from "openid-client";
import type { SsoConfig } from "../config.js";
import type { Claims } from "./claims.js";
import { lacksClaims } from "./claims.js";

/**
 * The OpenID provider, through openid-client: discovery (fetched on first use, not at start, so a
 * provider that is down never stops the server), the authorization request (code flow with PKCE,
 * state and nonce), and the code exchange that verifies the ID token.
 */

/** What went wrong with the provider, for the page the person sees and the log. */
export type ProviderFailure =
  /** The provider could not be reached, timed out, or answered something other than OpenID Connect. */
  | "unreachable"
  /** The token endpoint refused the code (`invalid_grant`, `invalid_client`…): `error` says which. */
  | "refused"
  /** The provider's answer did not pass the checks (signature, issuer, audience, nonce, PKCE…). */
  | "invalid";

export class ProviderError extends Error {
  constructor(
    readonly failure: ProviderFailure,
    message: string,
    /** The OAuth error code the provider sent, when it sent one. */
    readonly error?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Seconds a request to the provider may take (discovery, token endpoint, UserInfo, JWKS). */
const TIMEOUT_SECONDS = 10;
/** A discovery document is used this long, then fetched again (the old one serves while the provider is away). */
const DISCOVERY_MAX_AGE_MS = 3_600_000;

const discovered = new WeakMap<SsoConfig, { config: oidc.Configuration; at: number }>();
const pending = new WeakMap<SsoConfig, Promise<oidc.Configuration>>();

/** Network trouble, a time-out, or an answer that is not the protocol's (a proxy's error page, a 5xx). */
function isUnreachable(err: unknown): boolean {
  if (err instanceof DOMException && (err.name === "TimeoutError" || err.name === "AbortError")) return true;
  if (err instanceof TypeError && !(err as { code?: string }).code) return true;
  if (err instanceof oidc.ClientError) return err.code === "OAUTH_RESPONSE_IS_NOT_CONFORM" || err.code === "OAUTH_RESPONSE_IS_NOT_JSON";
  return false;
}

function providerError(err: unknown, what: string): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof oidc.ResponseBodyError) return new ProviderError("refused", `${what}: the provider answered ${err.error}`, err.error, { cause: err });
  if (isUnreachable(err)) return new ProviderError("unreachable", `${what}: ${(err as Error).message}`, undefined, { cause: err });
  return new ProviderError("invalid", `${what}: ${(err as Error).message}`, undefined, { cause: err });
}

/**
 * The client's configuration at the provider. Client authentication: the client secret with HTTP
 * Basic (the default of OpenID Connect client registration), or in the form when the provider says
 * it takes only that; a client without a secret is public and relies on PKCE. ID tokens are
 * expected signed with RS256 (the default), or else the first algorithm the provider lists.
 */
async function discover(sso: SsoConfig): Promise<oidc.Configuration> {
  const insecure = new URL(sso.issuer).protocol === "http:";
  const execute = insecure ? [oidc.allowInsecureRequests] : [];
  let found: oidc.Configuration;
  try {
    found = await oidc.discovery(new URL(sso.issuer), sso.clientId, undefined, oidc.None(), { timeout: TIMEOUT_SECONDS, execute });
  } catch (err) {
    throw providerError(err, `discovery of ${sso.issuer}`);
  }
  const server = found.serverMetadata();
  const methods = server.token_endpoint_auth_methods_supported;
  const secret = sso.clientSecret?.reveal();
  const auth =
    secret === undefined
      ? oidc.None()
      : methods && !methods.includes("client_secret_basic") && methods.includes("client_secret_post")
        ? oidc.ClientSecretPost(secret)
        : oidc.ClientSecretBasic(secret);
  const algs = server.id_token_signing_alg_values_supported;
  const metadata = algs && algs.length > 0 && !algs.includes("RS256") ? { id_token_signed_response_alg: algs[0]! } : {};
  const config = new oidc.Configuration(server, sso.clientId, metadata, auth);
  config.timeout = TIMEOUT_SECONDS;
  for (const f of execute) f(config);
  return config;
}

/**
 * The provider's configuration, discovered on first use and again after an hour. Requests at once
 * share one discovery; a failed one is not kept (the next sign-in tries again), and while a
 * provider is away an older document keeps serving.
 */
export async function providerFor(sso: SsoConfig): Promise<oidc.Configuration> {
  const cached = discovered.get(sso);
  if (cached && Date.now() - cached.at < DISCOVERY_MAX_AGE_MS) return cached.config;
  let p = pending.get(sso);
  if (!p) {
    p = discover(sso)
      .then((config) => {
        discovered.set(sso, { config, at: Date.now() });
        return config;
      })
      .finally(() => pending.delete(sso));
    pending.set(sso, p);
  }
  try {
    return await p;
  } catch (err) {
    if (cached) return cached.config;
    throw err;
  }
}

/** One authorization request: where to send the browser, and what to keep until it comes back. */
export interface AuthorizationRequest {
  url: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** A fresh authorization request (authorization code flow, PKCE with S256, state and nonce). */
export async function authorizationRequest(sso: SsoConfig): Promise<AuthorizationRequest> {
  const config = await providerFor(sso);
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: sso.redirectUri,
    scope: sso.scopes.join(" "),
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: "S256",
  });
  return { url: url.href, state, nonce, codeVerifier };
}

/**
 * Exchanges the callback's code for tokens and returns the verified ID token's claims (the
 * signature, issuer, audience, expiry, nonce and the callback's state and `iss` checked by
 * openid-client), with the UserInfo answer's claims added when the ID token lacks one of
 * `wanted` (many providers put the email and groups only there).
 */
export async function exchangeCode(sso: SsoConfig, callbackUrl: URL, checks: { state: string; nonce: string; codeVerifier: string }, wanted: (string | null)[]): Promise<Claims> {
  const config = await providerFor(sso);
  let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
  try {
    tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: checks.codeVerifier,
      expectedState: checks.state,
      expectedNonce: checks.nonce,
      idTokenExpected: true,
    });
  } catch (err) {
    throw providerError(err, "code exchange");
  }
  const idClaims = tokens.claims();
  if (!idClaims) throw new ProviderError("invalid", "code exchange: no ID token");
  const claims: Claims = { ...idClaims };
  if (!lacksClaims(claims, wanted) || !config.serverMetadata().userinfo_endpoint) return claims;
  try {
    const info = await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub);
    // The ID token's claims win where both have one: they are the signed ones.
    return { ...info, ...claims };
  } catch (err) {
    throw providerError(err, "UserInfo");
  }
}

/**
 * The provider's sign-out address for this client (RP-Initiated Logout), coming back to our
 * sign-in page; null when the provider has none or cannot be reached now.
 */
export async function endSessionUrl(sso: SsoConfig): Promise<string | null> {
  try {
    const config = await providerFor(sso);
    if (!config.serverMetadata().end_session_endpoint) return null;
    return oidc.buildEndSessionUrl(config, { client_id: sso.clientId, post_logout_redirect_uri: sso.postLogoutRedirectUri }).href;
  } catch {
    return null;
  }
}
