import { ciHint, ciIdentity, federatedToken, type CiIdentity, type FederatedToken } from "@speedyfiles/sdk";
import type { GlobalFlags, Resolved } from "./config.js";
import { CliError, ExitCode, UsageError } from "./exit-codes.js";

/** How `sf` authenticates in a CI job without a stored token: the job's OIDC identity. */
export interface Federation {
  identity: CiIdentity;
  provider: FederatedToken;
}

/**
 * The federated token provider to use, or undefined for the resolved token: with `--oidc`
 * always (an error in words when the job has no ID token); else only when there is no token
 * (SF_TOKEN or the profile's) and the job has an OIDC identity. `--oidc-audience`, else
 * `SF_OIDC_AUDIENCE`, else the server's origin is the audience asked for.
 */
export function federation(flags: GlobalFlags, r: Resolved, env: Record<string, string | undefined>): Federation | undefined {
  if (flags.oidcAudience !== undefined && flags.oidcAudience.trim() === "") throw new UsageError("--oidc-audience needs a value");
  const identity = ciIdentity(env);
  if (flags.oidc) {
    if (!identity) {
      const why = ciHint(env) ?? "sf is not running in a GitHub Actions job with `permissions: id-token: write` or a GitLab CI job with an `id_tokens:` entry named SF_ID_TOKEN";
      throw new CliError(`--oidc: no OIDC ID token to exchange: ${why}`, ExitCode.AUTH);
    }
  } else if (r.token || !identity) {
    return undefined;
  }
  const audience = flags.oidcAudience?.trim() || env.SF_OIDC_AUDIENCE?.trim() || undefined;
  return { identity, provider: federatedToken({ identity, env, ...(audience ? { audience } : {}) }) };
}
