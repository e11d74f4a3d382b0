// The runner behind `npm test`, checked with small stand-in suites (never the real ones):
// node --test scripts/test-run.test.mjs
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { closingLines, dependenciesFirst, readReports, runSuites, summarize, testPackages } from "./test-run.mjs";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "sf-test-run-"));

/** A stand-in suite: a Node process running `code`, which may write a report into SF_TEST_REPORT. */
const suite = (name, code) => ({ name, command: process.execPath, args: ["-e", code], cwd: os.tmpdir() });
const writes = (counts, exit = 0) =>
  `require("fs").writeFileSync(require("path").join(process.env.SF_TEST_REPORT, "r.json"), JSON.stringify(${JSON.stringify({
    numTotalTests: (counts.numPassedTests ?? 0) + (counts.numFailedTests ?? 0),
    ...counts,
  })})); process.exit(${exit});`;

describe("npm test's runner", () => {
  it("runs every suite even after one fails, names those that did not finish, and sums the rest", () => {
    const reportRoot = tmp();
    const runs = runSuites(
      [
        suite("fails", writes({ numPassedTests: 3, numFailedTests: 2, numPendingTests: 1 }, 1)),
        suite("crashes", "process.exit(3)"),
        suite("killed", 'process.kill(process.pid, "SIGKILL")'),
        suite("broken-report", 'require("fs").writeFileSync(process.env.SF_TEST_REPORT + "/r.json", "{ half");'),
        suite("error-outside-tests", writes({ numPassedTests: 4 }, 1)),
        // A runner told where to write by an argument, as node --test is.
        {
          name: "passes",
          command: process.execPath,
          args: (dir) => ["-e", `require("fs").writeFileSync(process.argv[1] + "/r.json", '{"numTotalTests":10,"numPassedTests":10,"numTodoTests":2}')`, dir],
          cwd: os.tmpdir(),
        },
      ],
      { reportRoot, stdio: "ignore", log: () => {} },
    );
    assert.deepEqual(
      runs.map((r) => [r.name, r.status, r.signal]),
      [
        ["fails", 1, null],
        ["crashes", 3, null],
        ["killed", null, "SIGKILL"],
        ["broken-report", 0, null],
        ["error-outside-tests", 1, null],
        ["passes", 0, null],
      ],
    );
    const s = summarize(runs);
    // 2 failed tests + one each for the four suites that did not finish properly.
    assert.deepEqual({ passed: s.passed, failed: s.failed, skipped: s.skipped, ok: s.ok }, { passed: 17, failed: 6, skipped: 3, ok: false });
    assert.deepEqual(s.problems, [
      "crashes (no test report; exit 3)",
      "killed (no test report; killed by SIGKILL)",
      "broken-report (no test report; exit 0, unreadable report r.json)",
      "error-outside-tests (exit 1 with no failed test: an error outside the tests)",
    ]);
    const lines = closingLines(s);
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^test suites that did not finish: crashes .*, killed .*, broken-report .*, error-outside-tests /);
    assert.equal(lines.at(-1), "tests: 17 passed, 6 failed, 3 skipped");
    fs.rmSync(reportRoot, { recursive: true, force: true });
  });

  it("a run where every suite reports and passes is green, and its closing line stands alone", () => {
    const s = summarize([
      { name: "a", status: 0, signal: null, reports: [{ numTotalTests: 2, numPassedTests: 2, numFailedTests: 0 }], unreadable: [] },
      { name: "b", status: 0, signal: null, reports: [{ numTotalTests: 1, numPassedTests: 1, numFailedTests: 0, numPendingTests: 1 }], unreadable: [] },
    ]);
    assert.equal(s.ok, true);
    assert.deepEqual(closingLines(s), ["tests: 3 passed, 0 failed, 1 skipped"]);
  });

  it("names each failed test with its file and the first line of its message, before the closing line", () => {
    const report = {
      numTotalTests: 3,
      numPassedTests: 1,
      numFailedTests: 2,
      testResults: [
        {
          name: "/ci/checkout/packages/server/test/tus.test.ts",
          status: "failed",
          assertionResults: [
            { status: "passed", fullName: "tus (sqlite) resumes" },
            { status: "failed", fullName: "tus (postgres) a stalled PATCH lets go", failureMessages: ["AssertionError: expected 423 to be 204\n    at stack"] },
          ],
        },
        { name: "/ci/checkout/packages/server/test/broken.test.ts", status: "failed", message: "SyntaxError: Unexpected token\nmore", assertionResults: [] },
      ],
    };
    const s = summarize([{ name: "@speedyfiles/server", status: 1, signal: null, reports: [report], unreadable: [] }]);
    assert.deepEqual(closingLines(s), [
      "failed: @speedyfiles/server test/tus.test.ts > tus (postgres) a stalled PATCH lets go: AssertionError: expected 423 to be 204",
      "failed: @speedyfiles/server test/broken.test.ts: SyntaxError: Unexpected token",
      "tests: 1 passed, 2 failed, 0 skipped",
    ]);
  });

  it("a run with no test at all, or one that could not start a suite, is not green", () => {
    assert.equal(summarize([{ name: "a", status: 0, signal: null, reports: [{ numTotalTests: 0, numPassedTests: 0, numFailedTests: 0 }], unreadable: [] }]).ok, false);
    const s = summarize([{ name: "a", status: null, signal: null, error: "spawn pnpm ENOENT", reports: [], unreadable: [] }]);
    assert.deepEqual(s.problems, ["a (no test report; could not start: spawn pnpm ENOENT)"]);
  });

  it("reads only JSON test reports from a suite's folder", () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, "ok.json"), JSON.stringify({ numTotalTests: 1, numPassedTests: 1 }));
    fs.writeFileSync(path.join(dir, "other.json"), JSON.stringify({ hello: 1 }));
    fs.writeFileSync(path.join(dir, "notes.txt"), "x");
    assert.deepEqual(readReports(dir), { reports: [{ numTotalTests: 1, numPassedTests: 1 }], unreadable: ["other.json"] });
    assert.deepEqual(readReports(path.join(dir, "missing")), { reports: [], unreadable: [] });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("finds the workspace's packages with a test script, dependencies first", () => {
    const root = tmp();
    fs.writeFileSync(path.join(root, "pnpm-workspace.yaml"), "packages:\n  - packages/*\n  - 'tools'\nengineStrict: true\n");
    const pkg = (dir, json) => {
      fs.mkdirSync(path.join(root, dir), { recursive: true });
      fs.writeFileSync(path.join(root, dir, "package.json"), JSON.stringify(json));
    };
    pkg("packages/cli", { name: "@x/cli", scripts: { test: "vitest run" }, dependencies: { "@x/sdk": "workspace:*" } });
    pkg("packages/sdk", { name: "@x/sdk", scripts: { test: "vitest run" }, dependencies: { "@x/types": "workspace:*" }, devDependencies: { "@x/server": "workspace:*" } });
    pkg("packages/server", { name: "@x/server", scripts: { test: "vitest run" }, dependencies: { "@x/types": "workspace:*", express: "^5" } });
    pkg("packages/types", { name: "@x/types", scripts: { build: "tsc" } });
    pkg("tools", { name: "tools", scripts: { test: "node --test" } });
    fs.mkdirSync(path.join(root, "packages/empty"));
    assert.deepEqual(
      testPackages(root).map((p) => [p.name, path.relative(root, p.dir)]),
      [
        ["@x/server", "packages/server"],
        ["@x/sdk", "packages/sdk"],
        ["@x/cli", "packages/cli"],
        ["tools", "tools"],
      ],
    );
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("orders by dependencies, by name where free, and survives a cycle", () => {
    const order = dependenciesFirst([
      { name: "b", deps: ["a"] },
      { name: "a", deps: ["b"] },
      { name: "c", deps: [] },
    ]).map((p) => p.name);
    assert.deepEqual(order, ["b", "a", "c"]);
  });
});
