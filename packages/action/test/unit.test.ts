import { spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatDuration, idempotencyKey, input, InputError, parseDuration, readInputs, readRunner, splitPaths } from "../src/inputs.js";
import { glob, resolvePaths } from "../src/paths.js";
import { runAction } from "../src/run.js";
import { addMask, error, escapeData, setOutput } from "../src/workflow.js";
import { fakeServer, parseOutputFile, REPO } from "./helpers.js";

describe("inputs", () => {
  const base = { INPUT_URL: "https://files.example.com/", INPUT_PATH: "build", INPUT_TO: "a@x.com" };

  it("reads INPUT_<NAME> upper-cased with dashes kept, trimmed, empty as absent", () => {
    expect(input({ "INPUT_TTL-DAYS": " 3 " }, "ttl-days")).toBe("3");
    expect(input({ "INPUT_TTL-DAYS": "  " }, "ttl-days")).toBeUndefined();
    const i = readInputs({ ...base, "INPUT_TTL-DAYS": "3", "INPUT_MAX-DOWNLOADS": "2", INPUT_TO: "a@x.com,\n b@x.com ,", "INPUT_WAIT-FOR-DOWNLOAD": "1h30m" });
    expect(i).toMatchObject({
      url: "https://files.example.com",
      to: ["a@x.com", "b@x.com"],
      ttlDays: 3,
      maxDownloads: 2,
      waitMs: 5_400_000,
      revealLink: false,
      audience: "https://files.example.com",
      token: undefined,
    });
  });

  it("defaults the audience to the url's origin, as sf does", () => {
    expect(readInputs({ ...base, INPUT_URL: "https://acme.example.com/files/" }).audience).toBe("https://acme.example.com");
    expect(readInputs({ ...base, INPUT_URL: "https://acme.example.com/files", INPUT_AUDIENCE: "https://acme.example.com/files" }).audience).toBe("https://acme.example.com/files");
  });

  it("rejects bad values with one sentence naming the input", () => {
    expect(() => readInputs({ ...base, INPUT_URL: "" })).toThrow(/url input is required/);
    expect(() => readInputs({ ...base, INPUT_URL: "files.example.com" })).toThrow(/url must start with https:\/\//);
    expect(() => readInputs({ ...base, INPUT_TO: "nobody" })).toThrow(/"nobody" is not an email address/);
    expect(() => readInputs({ ...base, "INPUT_TTL-DAYS": "0" })).toThrow(InputError);
    expect(() => readInputs({ ...base, "INPUT_REVEAL-LINK": "yes" })).toThrow(/reveal-link must be true or false/);
    expect(() => readInputs({ ...base, "INPUT_WAIT-FOR-DOWNLOAD": "soon" })).toThrow(/duration such as 30m/);
  });

  it("splits paths on newlines and spaces, keeping quoted ones whole", () => {
    expect(splitPaths('build\ndist/*.zip  "release notes.pdf"\n\n')).toEqual(["build", "dist/*.zip", "release notes.pdf"]);
  });

  it("parses durations", () => {
    expect(parseDuration("90s")).toBe(90_000);
    expect(parseDuration("2h")).toBe(7_200_000);
    expect(parseDuration("1d")).toBe(86_400_000);
    expect(parseDuration("45")).toBe(45_000);
    expect(() => parseDuration("0m")).toThrow(InputError);
  });

  it("writes durations back as the input takes them", () => {
    expect(formatDuration(5_400_000)).toBe("1h30m");
    expect(formatDuration(90_000)).toBe("1m30s");
    expect(formatDuration(2_000)).toBe("2s");
    expect(formatDuration(86_400_000)).toBe("24h"); // as sf writes it: one formatter (the SDK's)
  });

  it("derives one idempotency key per run, job, step and inputs, never from the token", () => {
    const env = { GITHUB_RUN_ID: "1", GITHUB_JOB: "j", GITHUB_ACTION: "s", GITHUB_REPOSITORY: "o/r" };
    const k = idempotencyKey(readInputs({ ...base, INPUT_TOKEN: "sf_a" }), readRunner(env));
    expect(k).toMatch(/^sf-action-[0-9a-f]{64}$/);
    expect(idempotencyKey(readInputs({ ...base, INPUT_TOKEN: "sf_b", "INPUT_REVEAL-LINK": "true" }), readRunner(env))).toBe(k);
    expect(idempotencyKey(readInputs(base), readRunner({ ...env, GITHUB_RUN_ID: "2" }))).not.toBe(k);
    expect(idempotencyKey(readInputs(base), readRunner({ ...env, GITHUB_JOB: "other" }))).not.toBe(k);
    expect(idempotencyKey(readInputs({ ...base, INPUT_TITLE: "t" }), readRunner(env))).not.toBe(k);
    expect(idempotencyKey(readInputs(base), readRunner({}))).toBeUndefined();
  });
});

describe("workflow commands", () => {
  it("escapes data so a value cannot start another command", () => {
    expect(escapeData("a%b\r\n::error::x")).toBe("a%25b%0D%0A::error::x");
    const lines: string[] = [];
    const r = { log: (l: string) => lines.push(l), outputFile: undefined };
    addMask(r, "secret\nvalue");
    addMask(r, "");
    error(r, "two\nlines");
    expect(lines).toEqual(["::add-mask::secret%0Avalue", "::error::two%0Alines"]);
  });

  it("appends name<<DELIM blocks to GITHUB_OUTPUT, multi-line values intact", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-action-out-"));
    const file = path.join(dir, "out");
    const r = { log: () => undefined, outputFile: file };
    setOutput(r, "link", "https://x/l/abc");
    setOutput(r, "files", '[{"name":"a"}]\nsecond line');
    const text = await fs.readFile(file, "utf8");
    expect(text).toMatch(/^link<<ghadelimiter_[0-9a-f-]{36}\nhttps:\/\/x\/l\/abc\nghadelimiter_[0-9a-f-]{36}\n/);
    expect(parseOutputFile(text)).toEqual({ link: "https://x/l/abc", files: '[{"name":"a"}]\nsecond line' });
    await fs.rm(dir, { recursive: true });
  });
});

describe("paths and globs", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-action-glob-"));
    for (const f of ["dist/a.zip", "dist/b.zip", "dist/c.tgz", "dist/.hidden.zip", "dist/sub/d.zip", "dist/sub/deep/e.zip", "other/f.zip"]) {
      await fs.mkdir(path.dirname(path.join(dir, f)), { recursive: true });
      await fs.writeFile(path.join(dir, f), f);
    }
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it("matches *, ?, [..] and ** like a shell, skipping dot files unless named", async () => {
    expect(await glob("dist/*.zip", dir)).toEqual(["dist/a.zip", "dist/b.zip"]);
    expect(await glob("dist/?.[zt]*", dir)).toEqual(["dist/a.zip", "dist/b.zip", "dist/c.tgz"]);
    expect(await glob("dist/**/*.zip", dir)).toEqual(["dist/a.zip", "dist/b.zip", "dist/sub/d.zip", "dist/sub/deep/e.zip"]);
    expect(await glob("*/*.zip", dir)).toEqual(["dist/a.zip", "dist/b.zip", "other/f.zip"]);
    expect(await glob("dist/.*.zip", dir)).toEqual(["dist/.hidden.zip"]);
    expect(await glob(`${dir}/dist/*.tgz`, "/")).toEqual([`${dir}/dist/c.tgz`]);
  });

  it("keeps plain paths as they are and fails on a glob that matches nothing", async () => {
    expect(await resolvePaths(["dist", "dist/*.tgz", "dist/c.tgz"], dir)).toEqual(["dist", "dist/c.tgz"]);
    await expect(resolvePaths(["nope/*"], dir)).rejects.toThrow(/nothing matches nope\/\*/);
  });
});

describe("keyless sign-in (the SDK's federated provider)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-action-keyless-"));
    await fs.writeFile(path.join(dir, "a.txt"), "a");
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  /** The action in this process, keyless against `url`, with a runner endpoint that hands out `idToken`. */
  async function keyless(url: string, idToken: string) {
    const runnerEndpoint = await fakeServer(() => ({ status: 200, json: { value: idToken } }));
    const lines: string[] = [];
    const env = {
      INPUT_URL: url,
      // Absolute: the SDK reads files from the process's working directory (the runner's is the workspace).
      INPUT_PATH: path.join(dir, "a.txt"),
      INPUT_TO: "qa@x.com",
      ACTIONS_ID_TOKEN_REQUEST_URL: `${runnerEndpoint.url}/token?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: "runner-request-token",
    };
    try {
      const code = await runAction({ env, cwd: dir, log: (l) => lines.push(l) });
      return { code, lines, runnerRequests: runnerEndpoint.requests };
    } finally {
      await runnerEndpoint.close();
    }
  }

  it("turns a refused exchange into one line with the server's detail and code, the ID token masked", async () => {
    const server = await fakeServer(() => ({ status: 403, json: { detail: "No trust policy allows this token", code: "oidc_no_matching_policy" } }));
    try {
      const r = await keyless(server.url, "id.token.one");
      expect(r.code).toBe(1);
      expect(r.runnerRequests).toHaveLength(1);
      expect(new URL(r.runnerRequests[0]!.url, "http://runner").searchParams.get("audience")).toBe(server.url);
      expect(server.requests.map((q) => `${q.method} ${q.url}`)).toEqual(["POST /api/v1/auth/oidc"]);
      expect(JSON.parse(server.requests[0]!.body)).toEqual({ token: "id.token.one" });
      expect(r.lines).toEqual([
        "::add-mask::id.token.one",
        "::error::keyless sign-in refused: No trust policy allows this token (oidc_no_matching_policy) (ask an admin for a trust policy that matches this repository)",
      ]);
    } finally {
      await server.close();
    }
  });

  it("mints a new token when the server refuses the current one, masking each", async () => {
    let minted = 0;
    const server = await fakeServer((req) => {
      if (req.url === "/api/v1/auth/oidc") {
        minted++;
        return { status: 200, json: { token: `sf_minted_${minted}`, expires_at: new Date(Date.now() + 600_000).toISOString(), scopes: ["packages:write"] } };
      }
      if (req.headers.authorization === "Bearer sf_minted_1") return { status: 401, json: { detail: "Token expired", code: "token_expired" } };
      return { status: 409, json: { detail: `stopped with ${req.headers.authorization}`, code: "conflict" } };
    });
    try {
      const r = await keyless(server.url, "id.token.two");
      expect(r.code).toBe(1);
      expect(r.runnerRequests).toHaveLength(2);
      expect(r.lines).toContain("::add-mask::sf_minted_1");
      expect(r.lines).toContain("::add-mask::sf_minted_2");
      expect(r.lines.at(-1)).toMatch(/^::error::stopped with Bearer sf_minted_2 /);
    } finally {
      await server.close();
    }
  });
});

describe("the committed bundle", () => {
  it("is what build.mjs makes from the current source (a stale bundle fails here and in gen:check)", () => {
    const r = spawnSync(process.execPath, [path.join(REPO, "packages/action/build.mjs"), "--check"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
  });

  it("is small enough to commit", async () => {
    const st = await fs.stat(path.join(REPO, "packages/action/bundle/index.cjs"));
    expect(st.size).toBeLessThan(1_000_000);
  });
});
