import * as undici from "undici";
import { SpeedyFilesError } from "../errors.js";
import { retryDelay, sleep } from "../retry.js";

/** Environment variables as `process.env` has them. */
export type Env = Record<string, string | undefined>;

/** Where a pipeline's OIDC ID token comes from. */
export type CiProvider = "github" | "gitlab" | "env";

/**
 * The OIDC identity of the CI job this process runs in: its provider and how to get an ID token.
 * Found by `ciIdentity(env)`.
 */
export interface CiIdentity {
  provider: CiProvider;
  /** For messages: `GitHub Actions`, `GitLab CI`, `SF_ID_TOKEN`. */
  name: string;
  /**
   * Whether the audience can be asked for: GitHub mints a token for any audience on request;
   * GitLab's (and any `SF_ID_TOKEN`) was minted before the job started, for the `aud` set in
   * `.gitlab-ci.yml`.
   */
  audienceChosen: boolean;
  /** A fresh ID token (a JWT) for `audience` (ignored where the audience is fixed). */
  idToken(audience: string, o?: { signal?: AbortSignal | undefined; dispatcher?: undici.Dispatcher | undefined }): Promise<string>;
}

/**
 * The ID token could not be had, or the server refused it. `code` is the server's error code
 * (`oidc_no_matching_policy`, …) or one of the SDK's: `no_ci_identity`, `id_token_unavailable`.
 */
export class FederatedAuthError extends SpeedyFilesError {
  readonly code: string;
  declare readonly status: number | undefined;
  constructor(message: string, init: { code: string; status?: number | undefined; cause?: unknown }) {
    super(message, { cause: init.cause });
    this.code = init.code;
    if (init.status !== undefined) this.status = init.status;
  }
}

/**
 * The CI identity of this job, when it has one:
 * - GitHub Actions: `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, present
 *   when the job has `permissions: id-token: write`;
 * - GitLab CI (or any pipeline): an ID token in `SF_ID_TOKEN` (GitLab: `id_tokens: SF_ID_TOKEN:
 *   aud: …` in `.gitlab-ci.yml`).
 * Undefined otherwise (see `ciHint` for why a CI job has none).
 */
export function ciIdentity(env: Env = process.env): CiIdentity | undefined {
  const url = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (url && requestToken) {
    return { provider: "github", name: "GitHub Actions", audienceChosen: true, idToken: (audience, o) => githubIdToken(url, requestToken, audience, o) };
  }
  const token = env.SF_ID_TOKEN?.trim();
  if (token) {
    const name = env.GITLAB_CI === "true" ? "GitLab CI" : "SF_ID_TOKEN";
    return { provider: env.GITLAB_CI === "true" ? "gitlab" : "env", name, audienceChosen: false, idToken: async () => token };
  }
  return undefined;
}

/** Why a job that looks like CI has no identity, in words; undefined outside CI. */
export function ciHint(env: Env = process.env): string | undefined {
  if (env.GITHUB_ACTIONS === "true") return "this GitHub Actions job cannot request an ID token: give it `permissions: id-token: write`";
  if (env.GITLAB_CI === "true") return "this GitLab CI job has no SF_ID_TOKEN: add `id_tokens: SF_ID_TOKEN: aud: <server URL>` to the job";
  return undefined;
}

/**
 * GitHub's runner hands out ID tokens: GET `<ACTIONS_ID_TOKEN_REQUEST_URL>&audience=<aud>` with
 * the request token as a bearer → `{"value": "<jwt>"}`. The URL already has a query string.
 * Retried briefly on network errors and 5xx (the runner's service has its own deploys).
 */
async function githubIdToken(
  requestUrl: string,
  requestToken: string,
  audience: string,
  o: { signal?: AbortSignal | undefined; dispatcher?: undici.Dispatcher | undefined } = {},
): Promise<string> {
  const url = new URL(requestUrl);
  url.searchParams.set("audience", audience);
  const backoff = { retries: 3, baseDelayMs: 500, maxDelayMs: 5000 };
  for (let attempt = 0; ; attempt++) {
    let failure: { message: string; status?: number; cause?: unknown };
    try {
      const res = await undici.fetch(url, {
        headers: { authorization: `bearer ${requestToken}`, accept: "application/json" },
        signal: AbortSignal.any([AbortSignal.timeout(30_000), ...(o.signal ? [o.signal] : [])]),
        ...(o.dispatcher ? { dispatcher: o.dispatcher } : {}),
      });
      const text = await res.text();
      if (res.ok) {
        const value = parseValue(text);
        if (value) return value;
        throw new FederatedAuthError("GitHub Actions answered the ID token request without a token", { code: "id_token_unavailable", status: res.status });
      }
      failure = { message: `GitHub Actions refused the ID token request (HTTP ${res.status})`, status: res.status };
      if (res.status < 500) throw new FederatedAuthError(failure.message, { code: "id_token_unavailable", status: res.status });
    } catch (err) {
      if (err instanceof FederatedAuthError || o.signal?.aborted) throw err;
      failure = { message: `cannot reach GitHub Actions for an ID token (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`, cause: err };
    }
    if (attempt >= backoff.retries) throw new FederatedAuthError(failure.message, { code: "id_token_unavailable", status: failure.status, cause: failure.cause });
    await sleep(retryDelay(attempt, backoff), o.signal);
  }
}

function parseValue(text: string): string | undefined {
  try {
    const v = (JSON.parse(text) as { value?: unknown }).value;
    return typeof v === "string" && v !== "" ? v : undefined;
  } catch {
    return undefined;
  }
}
