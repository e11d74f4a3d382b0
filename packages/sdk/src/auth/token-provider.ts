import type * as undici from "undici";
import type { components } from "../generated/api.js";
import { ApiError } from "../errors.js";
import { ciHint, ciIdentity, FederatedAuthError, type CiIdentity, type Env } from "./ci-identity.js";

export type OidcExchangeResponse = components["schemas"]["OidcExchangeResponse"];

/** What a client gives its token provider: the server, and a way to call its OIDC exchange. */
export interface TokenProviderContext {
  /** The server's URL, without `/api/v1` (as `SpeedyFiles.baseUrl`). */
  baseUrl: string;
  /**
   * `POST /auth/oidc` on this server, with the client's timeouts, proxy and retry window; the
   * answer and the server's `Date` header (to measure the token's lifetime on the server's clock).
   */
  exchange(idToken: string, signal?: AbortSignal): Promise<{ body: OidcExchangeResponse; date: string | null }>;
  dispatcher?: undici.Dispatcher | undefined;
}

/**
 * Where a client's API token comes from when it is not a fixed string: asked before every
 * request. `refresh` is set once after the server answered 401 to the last token.
 */
export interface TokenProvider {
  readonly kind: string;
  token(ctx: TokenProviderContext, o: { refresh: boolean; signal?: AbortSignal | undefined }): Promise<string>;
}

export interface FederatedTokenOptions {
  /**
   * The audience of the ID token (GitHub Actions only; GitLab's is fixed in `.gitlab-ci.yml`).
   * Default: `SF_OIDC_AUDIENCE` from `env`, else the server's origin (`https://files.example.com`),
   * so a token minted for one server cannot be replayed at another.
   */
  audience?: string | undefined;
  /** Where to look for the CI identity and `SF_OIDC_AUDIENCE` (default `process.env`). */
  env?: Env | undefined;
  /** The identity to use instead of the one found in `env`. */
  identity?: CiIdentity | undefined;
  /** Mint a new token when the current one has less than this left, in ms (default 60 000). */
  refreshBeforeMs?: number | undefined;
}

/** The federated token provider `federatedToken()` returns. */
export interface FederatedToken extends TokenProvider {
  readonly kind: "federated";
  /** The CI identity it uses (undefined when none was found: its first use throws). */
  readonly identity: CiIdentity | undefined;
  /** The audience it asks for on `baseUrl`. */
  audienceFor(baseUrl: string): string;
  /** The current token's scopes and (local-clock) expiry, once one was minted for `baseUrl`. */
  current(baseUrl: string): { scopes: string[]; expiresAt: Date } | undefined;
}

interface Minted {
  token: string;
  scopes: string[];
  /** Local clock, ms. */
  expiresAt: number;
  /** Mint again from this moment on (local clock, ms). */
  renewAt: number;
}

/** The default audience: the server's origin (scheme, host and port). */
export function defaultAudience(baseUrl: string): string {
  return new URL(baseUrl).origin;
}

/**
 * A token provider for CI jobs, keyless: it gets the job's OIDC ID token (GitHub Actions, GitLab
 * CI's `SF_ID_TOKEN`) and exchanges it at the server's `POST /auth/oidc` for a short-lived `sf_`
 * token, which it renews before it expires (when less than `refreshBeforeMs` is left, or half its
 * lifetime for short ones) and once after a 401, so a long job keeps working.
 *
 * ```ts
 * const sf = new SpeedyFiles({ baseUrl: "https://files.example.com", tokenProvider: federatedToken() });
 * ```
 */
export function federatedToken(opts: FederatedTokenOptions = {}): FederatedToken {
  const env = opts.env ?? process.env;
  const identity = opts.identity ?? ciIdentity(env);
  const refreshBeforeMs = opts.refreshBeforeMs ?? 60_000;
  const audienceOption = opts.audience ?? (env.SF_OIDC_AUDIENCE?.trim() || undefined);
  // Per server: a token minted by one server means nothing to another.
  const minted = new Map<string, Minted>();
  const inflight = new Map<string, Promise<Minted>>();
  const audienceFor = (baseUrl: string) => audienceOption ?? defaultAudience(baseUrl);

  async function mint(ctx: TokenProviderContext, signal: AbortSignal | undefined): Promise<Minted> {
    if (!identity) {
      throw new FederatedAuthError(`no CI identity to exchange for a token: ${ciHint(env) ?? "not in a GitHub Actions or GitLab CI job with an ID token"}`, {
        code: "no_ci_identity",
      });
    }
    const idToken = await identity.idToken(audienceFor(ctx.baseUrl), { signal, dispatcher: ctx.dispatcher });
    let answer: { body: OidcExchangeResponse; date: string | null };
    try {
      answer = await ctx.exchange(idToken, signal);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      throw new FederatedAuthError(`${ctx.baseUrl} refused this ${identity.name} job's ID token (${err.code}): ${err.detail}`, {
        code: err.code,
        status: err.status,
        cause: err,
      });
    }
    const { body, date } = answer;
    const now = Date.now();
    // The lifetime on the server's clock, counted from now on ours: a runner's clock that is off
    // by minutes must not make the token look expired (or fresh) when it is not.
    const serverNow = date ? Date.parse(date) : NaN;
    const lifetime = Date.parse(body.expires_at) - (Number.isNaN(serverNow) ? now : serverNow);
    const expiresAt = now + Math.max(0, lifetime);
    return { token: body.token, scopes: body.scopes, expiresAt, renewAt: expiresAt - Math.min(refreshBeforeMs, lifetime / 2) };
  }

  return {
    kind: "federated",
    identity,
    audienceFor,
    current(baseUrl) {
      const m = minted.get(baseUrl);
      return m ? { scopes: m.scopes, expiresAt: new Date(m.expiresAt) } : undefined;
    },
    async token(ctx, o) {
      const have = minted.get(ctx.baseUrl);
      if (have && !o.refresh && Date.now() < have.renewAt) return have.token;
      // One exchange at a time per server: the parallel requests of a send share it.
      let p = inflight.get(ctx.baseUrl);
      if (!p) {
        p = mint(ctx, o.signal).finally(() => inflight.delete(ctx.baseUrl));
        inflight.set(ctx.baseUrl, p);
      }
      const m = await p;
      minted.set(ctx.baseUrl, m);
      return m.token;
    },
  };
}
