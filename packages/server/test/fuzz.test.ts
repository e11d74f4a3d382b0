import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES } from "@speedyfiles/test-utils/server";
import { handlers } from "../src/routes/index.js";
import {
  type Finding,
  fuzzOperation,
  interruptedSummary,
  NOT_FUZZED,
  OPERATIONS,
  type OperationRun,
  reproduce,
  seedFrom,
  seedOf,
  selectedOperations,
  startFuzzServer,
  successCounts,
} from "./fuzz/runner.js";

// Property-based fuzzing of every operation in openapi.yaml (test/fuzz/): generated valid and
// invalid bodies, parameters and headers, as the owner, another user, an admin, anonymous and with
// a wrong token. A bounded, seeded run here; `pnpm fuzz` runs for as long as asked.
// SF_FUZZ_SEED changes the seed, SF_FUZZ_RUNS the requests per operation, SF_FUZZ_OPS narrows
// the operations.
const DEFAULT_SEED = 20261208;
const RUNS = Number(process.env.SF_FUZZ_RUNS ?? 12);

describe("the fuzz suite covers the contract", () => {
  it("fuzzes every operation of openapi.yaml, and excludes none without a reason", () => {
    const ids = OPERATIONS.map((o) => o.operationId);
    expect(ids.sort()).toEqual(Object.keys(handlers).sort());
    for (const [id, why] of Object.entries(NOT_FUZZED)) {
      expect(ids, `NOT_FUZZED names ${id}, which is no operation`).toContain(id);
      expect(why.length, `${id} is excluded without a reason`).toBeGreaterThan(20);
    }
    expect(selectedOperations({}).length).toBe(ids.length - Object.keys(NOT_FUZZED).length);
  });
});

describe.each(DATABASES)("fuzzing every operation (%s)", (kind) => {
  let s: Awaited<ReturnType<typeof startFuzzServer>>;
  beforeAll(async () => {
    s = await startFuzzServer(kind);
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  });

  it("never answers 5xx, always as the spec says, changes nothing when it refuses, and answers in time", async () => {
    const seed = seedFrom(process.env, DEFAULT_SEED);
    const ops = selectedOperations(process.env);
    const findings: Finding[] = [];
    const runs: { operationId: string; run: OperationRun }[] = [];
    for (const o of ops) {
      const run = await fuzzOperation(s.fuzzer, o, seedOf(seed, 0, o.operationId), 0, RUNS, 20_000);
      runs.push({ operationId: o.operationId, run });
      if (run.finding) findings.push(run.finding);
    }
    console.log(`fuzz (${kind}): seed ${seed}, ${s.fuzzer.requests} requests over ${ops.length} operations`);
    // Runs cut short by the time limit (a loaded machine) are said; fewer than half the planned
    // requests in all is a failure: the run would pass having tested little.
    const cut = interruptedSummary(runs);
    if (cut.length) console.log(`fuzz (${kind}): ${cut.length} operation(s) cut short:\n  ${cut.join("\n  ")}`);
    const made = runs.reduce((n, r) => n + r.run.runs, 0);
    const planned = runs.reduce((n, r) => n + r.run.planned, 0);
    expect(made * 2, `only ${made} of ${planned} planned requests were made (time limits cut the runs short):\n${cut.join("\n")}`).toBeGreaterThanOrEqual(planned);
    const never = successCounts(s.fuzzer, ops).filter((c) => c.ok === 0);
    if (never.length) console.log(`fuzz (${kind}): warning: no 2xx answer for ${never.map((c) => c.operationId).join(", ")}`);
    const missed = ops.filter((o) => !s.fuzzer.statusCounts.has(o.operationId)).map((o) => o.operationId);
    expect(missed, "operations that got no answer").toEqual([]);
    if (findings.length) throw new Error(`fuzz seed ${seed}: ${findings.length} finding(s)\n\n${findings.map((f) => `${f.report}\n${reproduce(f, kind, seed)}`).join("\n\n")}`);
  }, 600_000);
});
