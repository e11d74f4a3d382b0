// `pnpm fuzz`: the fuzz suite for as long as asked (SF_FUZZ_MINUTES, default 60), on both
// databases at once or the one SF_TEST_DATABASES names. A random seed unless SF_FUZZ_SEED is
// given; progress each minute; the first finding is printed with its seed and request, and the
// run exits 1. Not part of `npm test`.
import crypto from "node:crypto";
import { DATABASES, type DbKind } from "@speedyfiles/test-utils/server";
import { type Finding, fuzzOperation, interruptedSummary, type OperationRun, reproduce, seedFrom, seedOf, selectedOperations, startFuzzServer, successCounts } from "./runner.js";

const minutes = Number(process.env.SF_FUZZ_MINUTES ?? 60);
const seed = seedFrom(process.env, crypto.randomInt(2 ** 31));
const firstRound = Number(process.env.SF_FUZZ_ROUND ?? 0);
const runsPerOperation = Number(process.env.SF_FUZZ_RUNS ?? 25);
const ops = selectedOperations(process.env);
const deadline = Date.now() + minutes * 60_000;
let stopped = false;
console.log(`fuzz: seed ${seed}, ${minutes} min, ${DATABASES.join(" and ")}, ${ops.length} operations, ${runsPerOperation} requests per operation per round`);

interface Result {
  kind: DbKind;
  finding: Finding | null;
  requests: number;
  rounds: number;
  covered: number;
  successes: ReturnType<typeof successCounts>;
}

async function fuzzOne(kind: DbKind): Promise<Result> {
  const s = await startFuzzServer(kind);
  let round = firstRound;
  let finding: Finding | null = null;
  let lastReport = Date.now();
  try {
    while (Date.now() < deadline && !finding && !stopped) {
      // Each round visits every operation, in an order of its own.
      const order = [...ops].sort((a, b) => seedOf(seed, round, a.operationId) - seedOf(seed, round, b.operationId));
      let complete = true;
      for (const o of order) {
        if (Date.now() >= deadline || stopped) {
          complete = false;
          break;
        }
        const run: OperationRun = await fuzzOperation(s.fuzzer, o, seedOf(seed, round, o.operationId), round, runsPerOperation, 60_000);
        finding = run.finding;
        for (const line of interruptedSummary([{ operationId: o.operationId, run }])) console.log(`fuzz (${kind}): round ${round}: ${line}`);
        if (finding) {
          // The other database stops too: the run's answer is this finding.
          stopped = true;
          break;
        }
        if (Date.now() - lastReport >= 60_000) {
          lastReport = Date.now();
          const left = Math.max(0, Math.round((deadline - Date.now()) / 60_000));
          console.log(`fuzz (${kind}): ${s.fuzzer.requests} requests, ${s.fuzzer.statusCounts.size}/${ops.length} operations covered, round ${round}, ${left} min left`);
        }
      }
      // A round counts as complete only when it visited every operation.
      if (!finding && complete) round++;
    }
    return { kind, finding, requests: s.fuzzer.requests, rounds: round - firstRound, covered: s.fuzzer.statusCounts.size, successes: successCounts(s.fuzzer, ops) };
  } finally {
    await s.close();
  }
}

const results = await Promise.all(DATABASES.map((kind) => fuzzOne(kind)));
let failed = false;
const longRun = minutes >= 10;
for (const r of results) {
  console.log(`fuzz (${r.kind}): ${r.requests} requests, ${r.covered}/${ops.length} operations covered, ${r.rounds} complete round(s)`);
  // "Covered" is any answer at all: how many were 2xx says whether the operation's work was reached.
  console.log(
    `fuzz (${r.kind}): 2xx answers by operation:\n${r.successes
      .filter((c) => c.answers > 0)
      .map((c) => `  ${c.operationId}: ${c.ok} of ${c.answers}`)
      .join("\n")}`,
  );
  const never = r.successes.filter((c) => c.answers > 0 && c.ok === 0);
  if (never.length) console.log(`fuzz (${r.kind}): warning: no 2xx answer for ${never.map((c) => c.operationId).join(", ")}`);
  const unreached = r.successes.filter((c) => c.answers === 0);
  if (unreached.length) console.log(`fuzz (${r.kind}): not reached before the run ended: ${unreached.map((c) => c.operationId).join(", ")}`);
  // In a long run, an operation whose every answer was a refusal was never fuzzed past its checks.
  const onlyRefused = never.filter((c) => c.answers > 0 && c.refused === c.answers);
  if (longRun && onlyRefused.length) {
    const bar = "!".repeat(72);
    console.log(
      `\n${bar}\nfuzz (${r.kind}): in ${minutes} minutes these operations were ONLY refused (every answer 4xx):\n  ${onlyRefused.map((c) => `${c.operationId} (${c.answers} answers)`).join("\n  ")}\n${bar}\n`,
    );
  }
  if (r.finding) {
    failed = true;
    console.log(`\nFINDING on ${r.kind} (seed ${seed}):\n${r.finding.report}\n${reproduce(r.finding, r.kind, seed)}\n`);
  }
}
process.exit(failed ? 1 : 0);
