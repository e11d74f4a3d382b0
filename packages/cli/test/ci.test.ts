// sf in a pipeline: keyless (the job's OIDC ID token exchanged for a short-lived token), reruns
// that answer the first run's package, and sends that ride out a server restart or deploy.
// The exchange runs against a small real HTTP server speaking its protocol (the server's side is
// built separately); sends and reruns against the real server.
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createPgDatabase, DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { sf, tempDir } from "./helpers.js";

interface Fake {
  url: string;
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

async function listen(handler: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void, port = 0): Promise<Fake> {
  const seen: Fake["seen"] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

const USER = { id: "6b1e5c1e-2a11-4a7b-9a39-0b6f3f0c1c36", email: "ci-bot@example.com", name: "CI bot", role: "user", disabled: false, created_at: "2026-11-27T10:00:00.000Z" };
const MINTED = `sf_${"M".repeat(43)}`;

/** The exchange and /me, as the contract has them: the GitHub job's ID token → MINTED. */
async function fakeApi(refuse?: { status: number; code: string; detail: string }): Promise<Fake> {
  return listen((req, body, res) => {
    if (req.method === "POST" && req.url === "/api/v1/auth/oidc") {
      if (refuse) return json(res, refuse.status, { detail: refuse.detail, code: refuse.code });
      if ((JSON.parse(body) as { token: string }).token !== "github-jwt") return json(res, 401, { detail: "Invalid ID token", code: "oidc_token_invalid" });
      return json(res, 201, { token: MINTED, expires_at: new Date(Date.now() + 900_000).toISOString(), scopes: ["packages:read", "packages:write"] });
    }
    if (req.method === "GET" && req.url === "/api/v1/me") {
      if (req.headers.authorization !== `Bearer ${MINTED}`) return json(res, 401, { detail: "Invalid token", code: "token_invalid" });
      return json(res, 200, USER);
    }
    json(res, 404, { detail: "Not found", code: "not_found" });
  });
}

async function fakeRunner(): Promise<Fake> {
  return listen((req, _b, res) => (req.headers.authorization === "bearer req-token" ? json(res, 200, { value: "github-jwt" }) : json(res, 401, { message: "no" })));
}

function github(runner: Fake): Record<string, string> {
  return { GITHUB_ACTIONS: "true", CI: "true", ACTIONS_ID_TOKEN_REQUEST_URL: `${runner.url}/idtoken?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: "req-token" };
}

const audiences = (runner: Fake) => runner.seen.map((r) => new URL(r.url, runner.url).searchParams.get("audience"));

describe("keyless: the CI job's OIDC identity", () => {
  const open: Fake[] = [];
  let xdg: string;
  beforeAll(async () => {
    xdg = await tempDir("sf-ci-xdg-");
  });
  afterEach(async () => {
    for (const f of open.splice(0)) await f.close();
  });

  it("no SF_TOKEN, no profile, a GitHub job: whoami exchanges the ID token and says so", async () => {
    const api = await fakeApi();
    const runner = await fakeRunner();
    open.push(api, runner);
    const r = await sf(["whoami"], { env: { ...github(runner), SF_URL: api.url, XDG_CONFIG_HOME: xdg } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("ci-bot@example.com\n");
    expect(r.stderr).toContain(
      `token from federation: this GitHub Actions job's OIDC ID token (audience ${api.url}) exchanged for a short-lived one with packages:read, packages:write`,
    );
    expect(audiences(runner)).toEqual([api.url]);
    const j = await sf(["whoami", "--json"], { env: { ...github(runner), SF_URL: api.url, XDG_CONFIG_HOME: xdg } });
    expect(JSON.parse(j.stdout).federated).toMatchObject({ provider: "github", audience: api.url, scopes: ["packages:read", "packages:write"] });
    expect(j.stdout).not.toContain(MINTED);
  });

  it("--oidc-audience, else SF_OIDC_AUDIENCE, picks the audience", async () => {
    const api = await fakeApi();
    const runner = await fakeRunner();
    open.push(api, runner);
    const env = { ...github(runner), SF_URL: api.url, XDG_CONFIG_HOME: xdg, SF_OIDC_AUDIENCE: "from-env" };
    expect((await sf(["whoami"], { env })).code).toBe(0);
    expect((await sf(["whoami", "--oidc-audience", "from-flag"], { env })).code).toBe(0);
    expect(audiences(runner)).toEqual(["from-env", "from-flag"]);
  });

  it("SF_TOKEN wins: no exchange unless --oidc", async () => {
    const api = await fakeApi();
    const runner = await fakeRunner();
    open.push(api, runner);
    const env = { ...github(runner), SF_URL: api.url, SF_TOKEN: `sf_${"S".repeat(43)}`, XDG_CONFIG_HOME: xdg };
    const r = await sf(["whoami"], { env });
    expect(r.code).toBe(3);
    expect(runner.seen).toHaveLength(0);
    expect((await sf(["whoami", "--oidc"], { env })).code).toBe(0);
    expect(runner.seen).toHaveLength(1);
  });

  it("--oidc without an identity: an error in words, exit 3", async () => {
    const r = await sf(["whoami", "--oidc"], { env: { SF_URL: "http://127.0.0.1:9", XDG_CONFIG_HOME: xdg } });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error: --oidc: no OIDC ID token to exchange: sf is not running in a GitHub Actions job with `permissions: id-token: write` or a GitLab CI job/);
    const gh = await sf(["whoami", "--oidc"], { env: { SF_URL: "http://127.0.0.1:9", GITHUB_ACTIONS: "true", XDG_CONFIG_HOME: xdg } });
    expect(gh.stderr).toBe("error: --oidc: no OIDC ID token to exchange: this GitHub Actions job cannot request an ID token: give it `permissions: id-token: write`\n");
  });

  it("the server refusing the exchange: one line naming its code, exit 3", async () => {
    const api = await fakeApi({ status: 403, code: "oidc_no_matching_policy", detail: "No trust policy matches this token" });
    const runner = await fakeRunner();
    open.push(api, runner);
    const r = await sf(["whoami"], { env: { ...github(runner), SF_URL: api.url, XDG_CONFIG_HOME: xdg } });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`error: ${api.url} refused this GitHub Actions job's ID token (oidc_no_matching_policy): No trust policy matches this token\n`);
  });

  it("GitLab: SF_ID_TOKEN is exchanged as it is", async () => {
    const api = await listen((req, _body, res) => {
      if (req.url === "/api/v1/auth/oidc") return json(res, 201, { token: MINTED, expires_at: new Date(Date.now() + 600_000).toISOString(), scopes: ["packages:write"] });
      return json(
        res,
        req.headers.authorization === `Bearer ${MINTED}` ? 200 : 401,
        req.headers.authorization === `Bearer ${MINTED}` ? USER : { detail: "no", code: "token_invalid" },
      );
    });
    open.push(api);
    const r = await sf(["whoami"], { env: { GITLAB_CI: "true", SF_ID_TOKEN: "gitlab-jwt", SF_URL: api.url, XDG_CONFIG_HOME: xdg } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("this GitLab CI job's OIDC ID token");
    expect(JSON.parse(api.seen[0]!.body)).toEqual({ token: "gitlab-jwt" });
  });
});

describe.each(DATABASES)("sf send in a pipeline (%s)", (kind) => {
  let t: TestServer;
  let work: string;
  let file: string;
  beforeAll(async () => {
    t = await startTestServer(kind);
    work = await tempDir("sf-ci-send-");
    file = path.join(work, "build.zip");
    await fs.writeFile(file, Buffer.alloc(120_000, 3));
  });
  afterAll(async () => {
    await t?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  async function env(extra: Record<string, string> = {}) {
    const { token } = await t.createUser();
    return { SF_URL: t.url, SF_TOKEN: token, XDG_CONFIG_HOME: await tempDir("sf-x-"), XDG_STATE_HOME: await tempDir("sf-s-"), ...extra };
  }

  it("--idempotency-key: the same send again prints the same link, sends nothing new", async () => {
    const e = await env();
    const a = await sf(["send", file, "--to", "qa@acme.com", "--idempotency-key", "release-1.4.2"], { env: e });
    const b = await sf(["send", file, "--to", "qa@acme.com", "--idempotency-key", "release-1.4.2"], { env: e });
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    const list = await sf(["packages", "list", "--json"], { env: e });
    expect(JSON.parse(list.stdout)).toHaveLength(1);
    const bad = await sf(["send", file, "--to", "qa@acme.com", "--idempotency-key", "short"], { env: e });
    expect(bad.code).toBe(2);
  });

  it("in GitHub Actions: a rerun attempt answers the same package; another send in the job, or --no-idempotency-key, a new one", async () => {
    const e = await env({ GITHUB_ACTIONS: "true", GITHUB_REPOSITORY: "acme/app", GITHUB_RUN_ID: "9001", GITHUB_JOB: "ship", GITHUB_RUN_ATTEMPT: "1" });
    const first = await sf(["send", file, "--to", "qa@acme.com", "--json"], { env: e });
    const rerun = await sf(["send", file, "--to", "qa@acme.com", "--json"], { env: { ...e, GITHUB_RUN_ATTEMPT: "2" } });
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout).magic_link).toBe(JSON.parse(first.stdout).magic_link);
    const other = await sf(["send", file, "--to", "qa@acme.com", "--title", "nightly", "--json"], { env: e });
    expect(JSON.parse(other.stdout).id).not.toBe(JSON.parse(first.stdout).id);
    const anew = await sf(["send", file, "--to", "qa@acme.com", "--no-idempotency-key", "--json"], { env: e });
    expect(JSON.parse(anew.stdout).id).not.toBe(JSON.parse(first.stdout).id);
    const nextRun = await sf(["send", file, "--to", "qa@acme.com", "--json"], { env: { ...e, GITHUB_RUN_ID: "9002" } });
    expect(JSON.parse(nextRun.stdout).id).not.toBe(JSON.parse(first.stdout).id);
  });

  it("a 503 twice, then the server: ridden out", async () => {
    let n = 0;
    const target = new URL(t.url);
    const proxy = await listen((req, body, res) => {
      if (n++ < 2) return json(res, 503, { detail: "deploying" });
      const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.end(body);
    });
    try {
      const e = await env();
      const r = await sf(["send", file, "--to", "qa@acme.com"], { env: { ...e, SF_URL: proxy.url } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/\/l\/[A-Za-z0-9_-]{43}\n$/);
      // The first call (the policy, read before anything is created) rides out the two 503s.
      expect(proxy.seen.slice(0, 4).map((s) => s.url)).toEqual(["/api/v1/me/policy", "/api/v1/me/policy", "/api/v1/me/policy", "/api/v1/packages"]);
    } finally {
      await proxy.close();
    }
  });

  it("a window that runs out: a clear message, exit 1", async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const e = await env({ SF_URL: `http://127.0.0.1:${port}`, SF_RETRY_WINDOW: "1" });
    const r = await sf(["send", file, "--to", "qa@acme.com"], { env: e });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: the SpeedyFiles server at http://127.0.0.1:${port} stayed unavailable (ECONNREFUSED) for 1 s of retries — is it running? (SF_RETRY_WINDOW=SECONDS waits longer)\n`,
    );
    const bad = await sf(["whoami"], { env: { ...e, SF_RETRY_WINDOW: "soon" } });
    expect(bad.code).toBe(2);
  });

  it("sf send started while the server is DOWN succeeds when it comes up 3 s later on the same port", async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-cli-down-"));
    const pg = kind === "postgres" ? await createPgDatabase() : undefined;
    const shared = { dataDir, ...(pg ? { databaseUrl: pg.url } : {}) };
    const first = await startTestServer(kind, shared);
    const { token } = await first.createUser();
    await first.close();
    let second: TestServer | undefined;
    try {
      const sending = sf(["send", file, "--to", "qa@acme.com", "--json"], {
        env: { SF_URL: first.url, SF_TOKEN: token, XDG_CONFIG_HOME: await tempDir("sf-x-"), XDG_STATE_HOME: await tempDir("sf-s-") },
      });
      await new Promise((r) => setTimeout(r, 3000));
      second = await startTestServer(kind, { ...shared, env: { SF_PORT: new URL(first.url).port } });
      const r = await sending;
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: "active" });
    } finally {
      await second?.close();
      await pg?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
