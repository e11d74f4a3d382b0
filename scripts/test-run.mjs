// What `npm test` does after building: every test suite of the workspace in turn, never stopping
// at a failing one, then one closing line summed over all of them. Kept apart from bootstrap.mjs
// (plain Node, no dependencies) so that scripts/test-run.test.mjs can check it without running
// the suites themselves.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/**
 * The workspace's packages that have a `test` script, dependencies first (ties by name), from
 * the `packages:` list of pnpm-workspace.yaml (plain folders and `folder/*` patterns).
 * @returns {{ name: string, dir: string }[]}
 */
export function testPackages(root) {
  const yaml = fs.readFileSync(path.join(root, "pnpm-workspace.yaml"), "utf8");
  const globs = [];
  let inPackages = false;
  for (const line of yaml.split("\n")) {
    if (/^\S/.test(line)) inPackages = /^packages:\s*$/.test(line);
    else if (inPackages && /^\s+-\s+/.test(line))
      globs.push(
        line
          .replace(/^\s+-\s+/, "")
          .replace(/^(["'])(.*)\1$/, "$2")
          .trim(),
      );
  }
  const dirs = [];
  for (const g of globs) {
    if (g.endsWith("/*")) {
      const parent = path.join(root, g.slice(0, -2));
      for (const d of fs.readdirSync(parent, { withFileTypes: true })) if (d.isDirectory()) dirs.push(path.join(parent, d.name));
    } else if (!/[*?{[!]/.test(g)) dirs.push(path.join(root, g));
    else throw new Error(`pnpm-workspace.yaml: the test runner reads only folders and folder/* patterns, not ${g}`);
  }
  const pkgs = [];
  for (const dir of dirs) {
    const file = path.join(dir, "package.json");
    if (!fs.existsSync(file)) continue;
    const j = JSON.parse(fs.readFileSync(file, "utf8"));
    pkgs.push({ name: j.name ?? path.basename(dir), dir, hasTest: typeof j.scripts?.test === "string", deps: Object.keys({ ...j.dependencies, ...j.devDependencies }) });
  }
  return dependenciesFirst(pkgs)
    .filter((p) => p.hasTest)
    .map(({ name, dir }) => ({ name, dir }));
}

/** Orders packages so each comes after the workspace packages it depends on; ties by name. */
export function dependenciesFirst(pkgs) {
  const byName = new Map(pkgs.map((p) => [p.name, p]));
  const done = new Set();
  const out = [];
  const visit = (p, trail) => {
    if (done.has(p.name) || trail.has(p.name)) return; // a cycle: keep the order found so far
    trail.add(p.name);
    for (const d of [...p.deps].sort()) if (byName.has(d)) visit(byName.get(d), trail);
    trail.delete(p.name);
    done.add(p.name);
    out.push(p);
  };
  for (const p of [...pkgs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) visit(p, new Set());
  return out;
}

/**
 * The JSON reports (vitest's shape) that one suite wrote into its own folder.
 * @returns {{ reports: object[], unreadable: string[] }}
 */
export function readReports(dir) {
  const reports = [];
  const unreadable = [];
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".json"))
        .sort()
    : [];
  for (const f of files) {
    try {
      const j = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
      if (j === null || typeof j !== "object" || typeof j.numTotalTests !== "number") throw new Error("not a test report");
      reports.push(j);
    } catch {
      unreadable.push(f);
    }
  }
  return { reports, unreadable };
}

/**
 * Runs each suite in turn, whatever the one before did. Each gets its own report folder in
 * SF_TEST_REPORT (vitest.shared.ts writes its JSON report there); `args` may be a function of
 * that folder, for a runner told where to write by a flag.
 * @param {{ name: string, command: string, args: string[] | ((reportDir: string) => string[]), cwd: string }[]} suites
 * @returns {{ name: string, status: number | null, signal: string | null, error?: string, reports: object[], unreadable: string[] }[]}
 */
export function runSuites(suites, { reportRoot, env = process.env, stdio = "inherit", log = (s) => process.stdout.write(s) }) {
  return suites.map((suite, i) => {
    const dir = path.join(reportRoot, `${String(i).padStart(2, "0")}-${suite.name.replace(/[^A-Za-z0-9._-]+/g, "_")}`);
    fs.mkdirSync(dir, { recursive: true });
    log(`\n── tests of ${suite.name} ──\n`);
    const args = typeof suite.args === "function" ? suite.args(dir) : suite.args;
    const r = spawnSync(suite.command, args, { cwd: suite.cwd, stdio, env: { ...env, SF_TEST_REPORT: dir } });
    return { name: suite.name, status: r.status, signal: r.signal, ...(r.error ? { error: r.error.message } : {}), ...readReports(dir) };
  });
}

function howItEnded(run) {
  if (run.error) return `could not start: ${run.error}`;
  if (run.signal) return `killed by ${run.signal}`;
  return `exit ${run.status}`;
}

/**
 * Sums the suites' reports. A suite that wrote no readable report (it crashed, was killed, never
 * started), or failed with no failing test in its report (an error outside the tests), is named
 * in `problems` and counts as one failed test, so the closing line alone never reads as green.
 */
export function summarize(runs) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const problems = [];
  const failures = [];
  for (const run of runs) {
    if (run.reports.length === 0) {
      const unreadable = run.unreadable.length > 0 ? `, unreadable report ${run.unreadable.join(", ")}` : "";
      problems.push(`${run.name} (no test report; ${howItEnded(run)}${unreadable})`);
      failed += 1;
      continue;
    }
    let own = 0;
    for (const j of run.reports) {
      passed += j.numPassedTests ?? 0;
      own += j.numFailedTests ?? 0;
      skipped += (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
      failures.push(...failedTests(run.name, j));
    }
    failed += own;
    if (own === 0 && (run.status !== 0 || run.signal || run.error)) {
      problems.push(`${run.name} (${howItEnded(run)} with no failed test: an error outside the tests)`);
      failed += 1;
    }
  }
  return { passed, failed, skipped, problems, failures, ok: problems.length === 0 && failed === 0 && passed > 0 };
}

/**
 * The failed tests of one report (vitest's JSON shape): the suite, the file relative to the
 * package, the test's full name and the first line of its message, so a CI log cut to its tail
 * still says which test failed and why.
 */
function failedTests(suiteName, report) {
  const out = [];
  for (const file of report.testResults ?? []) {
    const rel = typeof file.name === "string" ? file.name.replace(/^.*\/packages\/[^/]+\//, "") : "?";
    const tests = (file.assertionResults ?? []).filter((t) => t.status === "failed");
    for (const t of tests) {
      const first = String(t.failureMessages?.[0] ?? "")
        .split("\n")[0]
        .slice(0, 300);
      out.push(`${suiteName} ${rel} > ${t.fullName ?? t.title}${first ? `: ${first}` : ""}`);
    }
    // A file that failed to load has no tests, only its message.
    if (tests.length === 0 && file.status === "failed" && file.message) out.push(`${suiteName} ${rel}: ${String(file.message).split("\n")[0].slice(0, 300)}`);
  }
  return out;
}

/** The lines that end the run: the failed tests and the suites that did not finish, if any, then the one CI reads. */
export function closingLines(s) {
  const lines = [];
  for (const f of s.failures ?? []) lines.push(`failed: ${f}`);
  if (s.problems.length > 0) lines.push(`test suites that did not finish: ${s.problems.join(", ")}`);
  lines.push(`tests: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`);
  return lines;
}
