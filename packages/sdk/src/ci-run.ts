import crypto from "node:crypto";
import type { Env } from "./auth/ci-identity.js";

/**
 * An idempotency key for one `send` in a CI job, the same on every rerun of that job, or
 * undefined outside a known CI:
 * - GitHub Actions: the repository, `GITHUB_RUN_ID` and `GITHUB_JOB`, not `GITHUB_RUN_ATTEMPT`:
 *   a retried step and a re-run of a failed job both answer the package of the first run;
 * - GitLab CI: the project, `CI_PIPELINE_ID` and `CI_JOB_NAME`, not `CI_JOB_ID` (a retried job
 *   gets a new id; its name carries the values of a `parallel: matrix` job);
 * plus a hash of `what` (the destination, paths, title, … of the send), so two different sends
 * in one job do not collide. GitHub's matrix jobs share `GITHUB_JOB`: their sends collide when
 * `what` is the same (give them different titles, or keys of their own).
 */
export function ciIdempotencyKey(what: unknown, env: Env = process.env): string | undefined {
  const run = ciRun(env);
  if (!run) return undefined;
  const digest = crypto
    .createHash("sha256")
    .update(JSON.stringify([run.provider, ...run.parts, canonical(what)]))
    .digest("hex")
    .slice(0, 40);
  return `sf-ci-${run.provider}-${digest}`;
}

function ciRun(env: Env): { provider: string; parts: string[] } | undefined {
  if (env.GITHUB_ACTIONS === "true" && env.GITHUB_RUN_ID && env.GITHUB_JOB) {
    return { provider: "github", parts: [env.GITHUB_SERVER_URL ?? "", env.GITHUB_REPOSITORY ?? "", env.GITHUB_RUN_ID, env.GITHUB_JOB] };
  }
  if (env.GITLAB_CI === "true" && env.CI_PIPELINE_ID && env.CI_JOB_NAME) {
    return { provider: "gitlab", parts: [env.CI_SERVER_URL ?? "", env.CI_PROJECT_ID ?? "", env.CI_PIPELINE_ID, env.CI_JOB_NAME] };
  }
  return undefined;
}

/** JSON with object keys sorted: the same value always hashes the same. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v ?? null);
}
