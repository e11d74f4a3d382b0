import fc from "fast-check";
import { type DbKind, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { loadSpec } from "../../src/spec.js";
import { describe, Fuzzer } from "./engine.js";
import { type Operation, operationsOf } from "./spec-check.js";
import { World } from "./world.js";

/**
 * Operations the fuzzer does not send, with the reason. Empty: every operation of openapi.yaml
 * can be reached over plain HTTP. (The `sessionCookie` scheme is not fuzzed as a way in: a
 * session is the same caller as its user's token once authenticated; its own checks, CSRF and
 * cookie flags, have their own tests.)
 */
export const NOT_FUZZED: Record<string, string> = {};

export const spec = loadSpec();
export const OPERATIONS: Operation[] = operationsOf(spec);

/** The seed a run uses: SF_FUZZ_SEED, or the given default. */
export function seedFrom(env: NodeJS.ProcessEnv, fallback: number): number {
  const raw = env.SF_FUZZ_SEED;
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`SF_FUZZ_SEED must be an integer, got ${raw}`);
  return n | 0;
}

/** Each operation's own seed in each round, from the run's seed: the same run sends the same plans. */
export function seedOf(seed: number, round: number, operationId: string): number {
  let h = (seed ^ Math.imul(round + 1, 0x9e3779b1)) | 0;
  for (const c of operationId) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) | 0;
  return h;
}

/** The fuzzer's server: small file limits so 413s are reachable with small bodies, generous failure limits so links stay usable. */
export async function startFuzzServer(kind: DbKind): Promise<{ t: TestServer; world: World; fuzzer: Fuzzer; close: () => Promise<void> }> {
  const t = await startTestServer(kind, {
    mail: false,
    env: {
      SF_MAX_FILE_BYTES: "65536",
      SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1",
      // Seeding adds webhooks again when the fuzzed requests deleted them; the limit per user is
      // tested in webhook-limits.test.ts.
      SF_WEBHOOKS_PER_USER_MAX: "10000",
      SF_LOGIN_MAX_FAILURES_PER_IP: "1000000",
      SF_LOGIN_MAX_FAILURES_PER_ACCOUNT: "1000000",
      SF_LINK_MAX_FAILURES_PER_IP: "1000000",
      SF_LINK_MAX_PASSWORD_FAILURES: "1000000",
    },
  });
  const world = new World(t);
  await world.seed();
  const fuzzer = new Fuzzer(spec, t, world);
  return {
    t,
    world,
    fuzzer,
    async close() {
      await world.close();
      await t.close();
    },
  };
}

export interface Finding {
  operationId: string;
  seed: number;
  round: number;
  report: string;
}

/** What fuzzing one operation came to: a finding or none, and how many of the planned requests were made. */
export interface OperationRun {
  finding: Finding | null;
  /** Requests made (fast-check's runs; a shrink's are not counted). */
  runs: number;
  planned: number;
  /** Cut short by the time limit (a loaded machine): fewer requests than planned, no failure. */
  interrupted: boolean;
}

/** A line for each operation whose run was cut short by its time limit: how many of its requests were made. */
export function interruptedSummary(results: { operationId: string; run: OperationRun }[]): string[] {
  return results.filter((r) => r.run.interrupted).map((r) => `${r.operationId}: cut short by the time limit after ${r.run.runs} of ${r.run.planned} requests`);
}

/**
 * Fuzzes one operation with `runs` requests from `seed`; a finding is shrunk to a small request
 * and described. Past `timeLimitMs` the run stops without failing (fast-check's
 * interruptAfterTimeLimit): the answer says so, with the number of requests made, for the
 * caller to report (and the bounded run in `npm test` to fail when too few were made).
 */
export async function fuzzOperation(fuzzer: Fuzzer, o: Operation, seed: number, round: number, runs: number, timeLimitMs: number): Promise<OperationRun> {
  let last = "";
  const details = await fc.check(
    fc.asyncProperty(fuzzer.plan(o), async (plan) => {
      const out = await fuzzer.run(o, plan);
      if (out.problems.length) {
        last = `${out.problems.map((p) => `  - ${p}`).join("\n")}\n${describe(out.sent)}\n  answer: ${out.answer ? `${out.answer.status} ${out.answer.body.subarray(0, 400).toString("utf8")}` : "(none)"} (${out.ms} ms)`;
        throw new Error(last);
      }
    }),
    { seed, numRuns: runs, interruptAfterTimeLimit: timeLimitMs, markInterruptAsFailure: false, maxSkipsPerRun: 0 },
  );
  const made = { runs: details.numRuns, planned: runs, interrupted: details.interrupted };
  if (!details.failed) return { finding: null, ...made };
  const message = details.errorInstance instanceof Error ? details.errorInstance.message : last;
  return {
    finding: {
      operationId: o.operationId,
      seed,
      round,
      report: `${o.operationId} broke a property (after ${details.numShrinks} shrinks):\n${message}`,
    },
    ...made,
  };
}

/** Answers by operation: how many, and how many were 2xx (an operation fuzzed only into refusals tested little). */
export function successCounts(fuzzer: Fuzzer, ops: Operation[]): { operationId: string; answers: number; ok: number; refused: number }[] {
  return ops.map((o) => {
    const counts = fuzzer.statusCounts.get(o.operationId) ?? new Map<number, number>();
    let answers = 0;
    let ok = 0;
    let refused = 0;
    for (const [status, n] of counts) {
      answers += n;
      if (status >= 200 && status < 300) ok += n;
      if (status >= 400 && status < 500) refused += n;
    }
    return { operationId: o.operationId, answers, ok, refused };
  });
}

export function reproduce(f: Finding, kind: DbKind, master: number): string {
  return `reproduce: SF_FUZZ_SEED=${master} SF_FUZZ_ROUND=${f.round} SF_FUZZ_OPS=${f.operationId} SF_TEST_DATABASES=${kind} pnpm fuzz   (this operation's own seed: ${f.seed})`;
}

/** The operations a run covers: SF_FUZZ_OPS (comma-separated operationIds), or all but NOT_FUZZED. */
export function selectedOperations(env: NodeJS.ProcessEnv): Operation[] {
  const wanted = env.SF_FUZZ_OPS?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const ops = OPERATIONS.filter((o) => !(o.operationId in NOT_FUZZED));
  if (!wanted?.length) return ops;
  const unknown = wanted.filter((w) => !ops.some((o) => o.operationId === w));
  if (unknown.length) throw new Error(`SF_FUZZ_OPS names no fuzzed operation: ${unknown.join(", ")}`);
  return ops.filter((o) => wanted.includes(o.operationId));
}
