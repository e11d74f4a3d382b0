import { fetch } from "undici";

/**
 * Keyless sign-in from a GitHub Actions job: the runner's OIDC ID token, exchanged at the server
 * for a short-lived `sf_` token (`POST /api/v1/auth/oidc`). Kept apart from the rest of the action
 * so that the SDK's own provider (`federatedToken({ audience })`) can take its place.
 */
export interface FederatedToken {
  token: string;
  expires_at: string | undefined;
  scopes: string[];
}

export class KeylessError extends Error {}

/** Asks the runner for an ID token with this audience (`permissions: id-token: write` needed). */
export async function githubIdToken(requestUrl: string, requestToken: string, audience: string, signal?: AbortSignal): Promise<string> {
  const url = new URL(requestUrl);
  url.searchParams.set("audience", audience);
  let res;
  try {
    res = await fetch(url, { headers: { Authorization: `bearer ${requestToken}`, Accept: "application/json" }, ...(signal ? { signal } : {}) });
  } catch (err) {
    throw new KeylessError(`could not reach the runner's OIDC endpoint: ${(err as Error).message}`, { cause: err });
  }
  const body = (await res.json().catch(() => undefined)) as { value?: unknown } | undefined;
  if (!res.ok || typeof body?.value !== "string" || !body.value) {
    throw new KeylessError(`the runner gave no OIDC ID token (HTTP ${res.status}); does the job have permissions: id-token: write?`);
  }
  return body.value;
}

/** Exchanges an ID token for a SpeedyFiles token under one of the server's trust policies. */
export async function exchangeIdToken(baseUrl: string, idToken: string, signal?: AbortSignal): Promise<FederatedToken> {
  let res;
  try {
    res = await fetch(`${baseUrl}/api/v1/auth/oidc`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ token: idToken }),
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    throw new KeylessError(`could not reach ${baseUrl}: ${(err as Error).message}`, { cause: err });
  }
  const body = (await res.json().catch(() => undefined)) as { token?: unknown; expires_at?: unknown; scopes?: unknown; detail?: unknown; code?: unknown } | undefined;
  if (!res.ok) {
    // The code, as sf names it: what docs/ci.md's list of refusals is looked up by.
    const code = typeof body?.code === "string" ? ` (${body.code})` : "";
    const detail = `${typeof body?.detail === "string" ? body.detail : `HTTP ${res.status}`}${code}`;
    const hint =
      res.status === 404
        ? " (this server has no keyless sign-in; pass a token input)"
        : res.status === 401 || res.status === 403
          ? " (ask an admin for a trust policy that matches this repository)"
          : "";
    throw new KeylessError(`keyless sign-in refused: ${detail}${hint}`);
  }
  if (typeof body?.token !== "string") throw new KeylessError("keyless sign-in: the server's answer has no token");
  return {
    token: body.token,
    expires_at: typeof body.expires_at === "string" ? body.expires_at : undefined,
    scopes: Array.isArray(body.scopes) ? body.scopes.filter((s): s is string => typeof s === "string") : [],
  };
}
