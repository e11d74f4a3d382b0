import crypto from "node:crypto";
import { defaultAudience, formatDuration as formatDurationText, parseDuration as parseDurationText } from "@speedyfiles/sdk";

/** What the step was given (`with:`), parsed and checked. */
export interface Inputs {
  url: string;
  /** Paths or globs, as given. */
  paths: string[];
  to: string[];
  title: string | undefined;
  message: string | undefined;
  ttlDays: number | undefined;
  maxDownloads: number | undefined;
  /** Milliseconds to wait until every recipient has downloaded every file; undefined = don't wait. */
  waitMs: number | undefined;
  audience: string;
  token: string | undefined;
  revealLink: boolean;
}

/** What the runner tells a step about where it runs (the `GITHUB_*` / `ACTIONS_*` variables). */
export interface RunnerContext {
  outputFile: string | undefined;
  runId: string | undefined;
  job: string | undefined;
  /** The step's id (`GITHUB_ACTION`): two steps of one job with the same inputs stay apart. */
  action: string | undefined;
  repository: string | undefined;
  /** Where the job asks for its OIDC ID token (set only with `permissions: id-token: write`). */
  idTokenUrl: string | undefined;
  idTokenRequestToken: string | undefined;
}

/** A problem with what the workflow gave the step: reported as one `::error::` line. */
export class InputError extends Error {}

type Env = Record<string, string | undefined>;

/**
 * An input as the runner passes it: `INPUT_<NAME>` with the name upper-cased, spaces turned into
 * `_` and dashes kept (`ttl-days` → `INPUT_TTL-DAYS`), trimmed; empty means not given.
 */
export function input(env: Env, name: string): string | undefined {
  const v = env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`]?.trim();
  return v ? v : undefined;
}

/** Reads and checks every input; throws InputError naming the first bad one. */
export function readInputs(env: Env): Inputs {
  const url = input(env, "url");
  if (!url) throw new InputError("the url input is required (your SpeedyFiles server, e.g. https://files.example.com)");
  if (!/^https?:\/\/[^\s/]+/i.test(url)) throw new InputError(`url must start with https:// (got "${url}")`);
  const path = input(env, "path");
  if (!path) throw new InputError("the path input is required (a file, a folder or globs, one per line)");
  const to = splitList(input(env, "to") ?? "", /[,\n]/);
  if (to.length === 0) throw new InputError("the to input is required (recipient emails, comma or newline separated)");
  for (const t of to) if (!/^[^\s@]+@[^\s@]+$/.test(t)) throw new InputError(`to: "${t}" is not an email address`);
  const wait = input(env, "wait-for-download");
  const reveal = (input(env, "reveal-link") ?? "false").toLowerCase();
  if (reveal !== "true" && reveal !== "false") throw new InputError(`reveal-link must be true or false (got "${reveal}")`);
  const base = url.replace(/\/+$/, "");
  return {
    url: base,
    paths: splitPaths(path),
    to,
    title: input(env, "title"),
    message: input(env, "message"),
    ttlDays: wholeNumber(env, "ttl-days"),
    maxDownloads: wholeNumber(env, "max-downloads"),
    waitMs: wait ? parseDuration(wait) : undefined,
    // As sf and the SDK ask for by default: one trust policy serves both in a workflow.
    audience: input(env, "audience") ?? defaultAudience(base),
    token: input(env, "token"),
    revealLink: reveal === "true",
  };
}

export function readRunner(env: Env): RunnerContext {
  return {
    outputFile: env.GITHUB_OUTPUT || undefined,
    runId: env.GITHUB_RUN_ID || undefined,
    job: env.GITHUB_JOB || undefined,
    action: env.GITHUB_ACTION || undefined,
    repository: env.GITHUB_REPOSITORY || undefined,
    idTokenUrl: env.ACTIONS_ID_TOKEN_REQUEST_URL || undefined,
    idTokenRequestToken: env.ACTIONS_ID_TOKEN_REQUEST_TOKEN || undefined,
  };
}

function splitList(s: string, sep: RegExp): string[] {
  return s
    .split(sep)
    .map((x) => x.trim())
    .filter(Boolean);
}

/**
 * `path`: one path or glob per line, or several on a line separated by spaces; a path with a space
 * in it is written in double quotes (`"release notes.pdf"`).
 */
export function splitPaths(s: string): string[] {
  const out: string[] = [];
  for (const m of s.matchAll(/"([^"]*)"|(\S+)/g)) {
    const p = m[1] ?? m[2];
    if (p) out.push(p);
  }
  return out;
}

function wholeNumber(env: Env, name: string): number | undefined {
  const v = input(env, name);
  if (v === undefined) return undefined;
  if (!/^[1-9]\d{0,5}$/.test(v)) throw new InputError(`${name} must be a whole number above 0 (got "${v}")`);
  return Number(v);
}

/** `90s`, `30m`, `2h`, `1h30m`, `7d` → milliseconds; a bare number is seconds. */
export function parseDuration(s: string): number {
  const ms = parseDurationText(s);
  if (ms === undefined) throw new InputError(`wait-for-download must be a duration such as 30m, 2h or 1h30m (got "${s}")`);
  if (ms <= 0) throw new InputError(`wait-for-download must be longer than 0 (got "${s}")`);
  return ms;
}

/** `5400000` → `1h30m`, `90000` → `1m30s`: a duration as the wait-for-download input writes it. */
export const formatDuration = formatDurationText;

/**
 * The Idempotency-Key of this step's send: the same for every attempt of the step in one workflow
 * run (a re-run job keeps `GITHUB_RUN_ID`) with the same inputs, so a retry gets the package the
 * first attempt made (and no second email). Undefined outside a workflow run.
 */
export function idempotencyKey(inputs: Inputs, runner: RunnerContext): string | undefined {
  if (!runner.runId) return undefined;
  // What makes the package; not the token (it changes per attempt) nor how the step waits or logs.
  const what = JSON.stringify([inputs.url, inputs.paths, inputs.to, inputs.title, inputs.message, inputs.ttlDays, inputs.maxDownloads]);
  const h = crypto
    .createHash("sha256")
    .update(JSON.stringify([runner.repository, runner.runId, runner.job, runner.action, what]))
    .digest("hex");
  return `sf-action-${h}`;
}
