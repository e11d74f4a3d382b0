import { spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotencyKey, input, InputError, parseDuration, readInputs, readRunner, splitPaths } from "../src/inputs.js";
import { exchangeIdToken, KeylessError } from "../src/keyless.js";
import { glob, resolvePaths } from "../src/paths.js";
import { waitForDownload, WaitError } from "../src/wait.js";
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

describe("keyless exchange", () => {
  it("POSTs the ID token to /api/v1/auth/oidc and takes {token, expires_at, scopes}", async () => {
    const server = await fakeServer((req) =>
      req.method === "POST" && req.url === "/api/v1/auth/oidc"
        ? { status: 200, json: { token: "sf_exchanged", expires_at: "2030-01-01T00:00:00.000Z", scopes: ["packages:write"] } }
        : { status: 404, json: { detail: "Not found", code: "not_found" } },
    );
    try {
      const t = await exchangeIdToken(server.url, "id.token.value");
      expect(t).toEqual({ token: "sf_exchanged", expires_at: "2030-01-01T00:00:00.000Z", scopes: ["packages:write"] });
      expect(JSON.parse(server.requests[0]!.body)).toEqual({ token: "id.token.value" });
      expect(server.requests[0]!.headers["content-type"]).toBe("application/json");
    } finally {
      await server.close();
    }
  });

  it("turns a refusal into one line with the server's detail and code", async () => {
    const server = await fakeServer(() => ({ status: 403, json: { detail: "No trust policy allows this token", code: "oidc_no_matching_policy" } }));
    try {
      await expect(exchangeIdToken(server.url, "x")).rejects.toThrow(KeylessError);
      await expect(exchangeIdToken(server.url, "x")).rejects.toThrow(/refused: No trust policy allows this token \(oidc_no_matching_policy\) \(ask an admin/);
    } finally {
      await server.close();
    }
  });
});

describe("waiting for a download", () => {
  it("long-polls with after and wait, refreshes a token the server refuses, and stops at a download", async () => {
    let calls = 0;
    const server = await fakeServer((req) => {
      calls++;
      if (req.headers.authorization === "Bearer old") return { status: 401, json: { detail: "Token expired", code: "token_expired" } };
      if (calls === 2) return { status: 200, json: [{ id: "e1", type: "upload", created_at: "2030-01-01T00:00:00Z" }] };
      return { status: 200, json: [{ id: "e2", type: "archive_download", recipient_email: "qa@x.com", created_at: "2030-01-01T00:01:00Z" }] };
    });
    try {
      const seen = await waitForDownload("p1", { baseUrl: server.url, token: "old", refreshToken: async () => "new", timeoutMs: 20_000, waitSeconds: 5 });
      expect(seen).toEqual({ type: "archive_download", recipient_email: "qa@x.com", created_at: "2030-01-01T00:01:00Z" });
      const urls = server.requests.map((r) => new URL(r.url, server.url));
      expect(urls.map((u) => u.pathname)).toEqual(Array(3).fill("/api/v1/packages/p1/events"));
      expect(urls[1]!.searchParams.get("wait")).toBe("5");
      expect(urls[1]!.searchParams.has("after")).toBe(false);
      expect(urls[2]!.searchParams.get("after")).toBe("e1");
    } finally {
      await server.close();
    }
  });

  it("falls back to plain polling on a server that rejects the parameters, and gives up at the deadline", async () => {
    const server = await fakeServer((req) =>
      req.url.includes("?") ? { status: 422, json: { detail: "Unknown query parameter", code: "validation_failed" } } : { status: 200, json: [] },
    );
    try {
      await expect(waitForDownload("p1", { baseUrl: server.url, token: "t", timeoutMs: 1500, pollMs: 200 })).rejects.toThrow(WaitError);
      expect(server.requests.filter((r) => !r.url.includes("?")).length).toBeGreaterThan(2);
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
