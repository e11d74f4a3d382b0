// Keyless in CI: the SDK gets the job's OIDC ID token (GitHub Actions' runner endpoint, GitLab's
// SF_ID_TOKEN) and exchanges it at POST /api/v1/auth/oidc. The server's side of the exchange is
// built separately, so these client-side tests run against a small real HTTP server that speaks
// the exchange protocol of openapi.yaml (and /me), plus a stand-in for GitHub's runner endpoint.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { AuthenticationError, ciHint, ciIdentity, FederatedAuthError, federatedToken, SpeedyFiles } from "../src/index.js";

interface Fake {
  url: string;
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

async function listen(handler: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void): Promise<Fake> {
  const seen: Fake["seen"] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

const USER = { id: "6b1e5c1e-2a11-4a7b-9a39-0b6f3f0c1c36", email: "ci@example.com", name: "CI", role: "user", disabled: false, created_at: "2026-11-27T10:00:00.000Z" };
// The fake server's clock is far from ours on purpose: the SDK must measure the token's lifetime
// on the server's clock (its Date header), not compare expires_at with the runner's clock.
const SERVER_NOW = Date.parse("2001-02-03T04:05:06.000Z");

/**
 * The exchange as the contract describes it: a known ID token → a fresh `sf_` token living
 * `lifetimeMs`; `/me` accepts the tokens it minted (minus those in `revoked`).
 */
async function fakeApi(opts: { lifetimeMs?: number; accept?: string; refuse?: { status: number; code: string; detail: string } } = {}) {
  const minted: string[] = [];
  const revoked = new Set<string>();
  const api = await listen((req, body, res) => {
    if (req.method === "POST" && req.url === "/api/v1/auth/oidc") {
      const { token } = JSON.parse(body) as { token: string };
      if (opts.refuse) return send(res, opts.refuse.status, { detail: opts.refuse.detail, code: opts.refuse.code });
      if (token !== (opts.accept ?? "jwt-from-github")) return send(res, 401, { detail: "The ID token is not valid", code: "oidc_token_invalid" });
      const t = `sf_${String(minted.length).padStart(43, "m")}`;
      minted.push(t);
      return send(
        res,
        201,
        { token: t, expires_at: new Date(SERVER_NOW + (opts.lifetimeMs ?? 600_000)).toISOString(), scopes: ["packages:write"] },
        { date: new Date(SERVER_NOW).toUTCString() },
      );
    }
    if (req.method === "GET" && req.url === "/api/v1/me") {
      const auth = req.headers.authorization ?? "";
      const t = auth.replace(/^Bearer /, "");
      if (!minted.includes(t) || revoked.has(t)) return send(res, 401, { detail: "Invalid token", code: "token_invalid" });
      return send(res, 200, USER);
    }
    send(res, 404, { detail: "Not found", code: "not_found" });
  });
  return { api, minted, revoked };
}

/** GitHub's runner endpoint: GET <url>&audience=… with the request token → {"value": jwt}. */
async function fakeRunner(opts: { status?: number } = {}) {
  return listen((req, _body, res) => {
    if (opts.status) return send(res, opts.status, { message: "nope" });
    if (req.headers.authorization !== "bearer runner-request-token") return send(res, 401, { message: "bad request token" });
    send(res, 200, { count: 1, value: "jwt-from-github" });
  });
}

const open: Fake[] = [];
afterEach(async () => {
  for (const f of open.splice(0)) await f.close();
});

function githubEnv(runner: Fake, extra: Record<string, string> = {}): Record<string, string> {
  return {
    GITHUB_ACTIONS: "true",
    ACTIONS_ID_TOKEN_REQUEST_URL: `${runner.url}/_apis/distributedtask/hubs/build/plans/p/jobs/j/idtoken?api-version=2.0`,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: "runner-request-token",
    ...extra,
  };
}

describe("ciIdentity", () => {
  it("finds GitHub Actions, GitLab CI, a bare SF_ID_TOKEN, or nothing (with a hint for a CI job without one)", () => {
    expect(ciIdentity({ ACTIONS_ID_TOKEN_REQUEST_URL: "http://x/?a=1", ACTIONS_ID_TOKEN_REQUEST_TOKEN: "t" })).toMatchObject({ provider: "github", audienceChosen: true });
    expect(ciIdentity({ GITLAB_CI: "true", SF_ID_TOKEN: "jwt" })).toMatchObject({ provider: "gitlab", name: "GitLab CI", audienceChosen: false });
    expect(ciIdentity({ SF_ID_TOKEN: "jwt" })).toMatchObject({ provider: "env" });
    expect(ciIdentity({ GITHUB_ACTIONS: "true" })).toBeUndefined();
    expect(ciIdentity({})).toBeUndefined();
    expect(ciHint({ GITHUB_ACTIONS: "true" })).toMatch(/id-token: write/);
    expect(ciHint({ GITLAB_CI: "true" })).toMatch(/id_tokens: SF_ID_TOKEN/);
    expect(ciHint({})).toBeUndefined();
  });
});

describe("federatedToken() against the exchange", () => {
  it("GitHub: asks the runner for an ID token for the server's origin, exchanges it, and uses the minted token", async () => {
    const { api, minted } = await fakeApi();
    const runner = await fakeRunner();
    open.push(api, runner);
    const sf = new SpeedyFiles({ baseUrl: `${api.url}/api/v1`, tokenProvider: federatedToken({ env: githubEnv(runner) }) });
    expect(sf.hasToken).toBe(true);
    expect((await sf.me()).email).toBe("ci@example.com");
    expect((await sf.me()).email).toBe("ci@example.com");

    // The runner URL already has a query: audience is added to it, the request token is a bearer.
    expect(runner.seen).toHaveLength(1);
    const asked = new URL(runner.seen[0]!.url, runner.url);
    expect(asked.searchParams.get("api-version")).toBe("2.0");
    expect(asked.searchParams.get("audience")).toBe(api.url);
    // One exchange for both calls, without any Authorization of its own.
    const exchanges = api.seen.filter((r) => r.url === "/api/v1/auth/oidc");
    expect(exchanges).toHaveLength(1);
    expect(JSON.parse(exchanges[0]!.body)).toEqual({ token: "jwt-from-github" });
    expect(exchanges[0]!.headers.authorization).toBeUndefined();
    expect(api.seen.filter((r) => r.url === "/api/v1/me").map((r) => r.headers.authorization)).toEqual([`Bearer ${minted[0]}`, `Bearer ${minted[0]}`]);
  });

  it("the audience: SF_OIDC_AUDIENCE, or the option, instead of the origin", async () => {
    const { api } = await fakeApi();
    const runner = await fakeRunner();
    open.push(api, runner);
    await new SpeedyFiles({ baseUrl: api.url, tokenProvider: federatedToken({ env: githubEnv(runner, { SF_OIDC_AUDIENCE: "speedyfiles-prod" }) }) }).me();
    await new SpeedyFiles({ baseUrl: api.url, tokenProvider: federatedToken({ env: githubEnv(runner), audience: "from-option" }) }).me();
    expect(runner.seen.map((r) => new URL(r.url, runner.url).searchParams.get("audience"))).toEqual(["speedyfiles-prod", "from-option"]);
  });

  it("GitLab: exchanges SF_ID_TOKEN as it is", async () => {
    const { api } = await fakeApi({ accept: "jwt-from-gitlab" });
    open.push(api);
    const sf = new SpeedyFiles({ baseUrl: api.url, tokenProvider: federatedToken({ env: { GITLAB_CI: "true", SF_ID_TOKEN: "jwt-from-gitlab" } }) });
    expect((await sf.me()).email).toBe("ci@example.com");
  });

  it("renews the token before it expires, measured on the server's clock", async () => {
    // A 3 s token (by the server's Date header, 2001): renewed when half of it is left.
    const { api, minted } = await fakeApi({ lifetimeMs: 3000 });
    const runner = await fakeRunner();
    open.push(api, runner);
    const provider = federatedToken({ env: githubEnv(runner) });
    const sf = new SpeedyFiles({ baseUrl: api.url, tokenProvider: provider });
    await sf.me();
    await sf.me();
    expect(minted).toHaveLength(1);
    const left = provider.current(sf.baseUrl)!.expiresAt.getTime() - Date.now();
    expect(left).toBeGreaterThan(2000);
    expect(left).toBeLessThanOrEqual(3000);
    await new Promise((r) => setTimeout(r, 1600));
    await sf.me();
    expect(minted).toHaveLength(2);
    expect(api.seen.at(-1)!.headers.authorization).toBe(`Bearer ${minted[1]}`);
  });

  it("a 401 to the minted token mints a new one, once", async () => {
    const { api, minted, revoked } = await fakeApi();
    const runner = await fakeRunner();
    open.push(api, runner);
    const sf = new SpeedyFiles({ baseUrl: api.url, tokenProvider: federatedToken({ env: githubEnv(runner) }) });
    await sf.me();
    revoked.add(minted[0]!);
    expect((await sf.me()).email).toBe("ci@example.com");
    expect(minted).toHaveLength(2);
    // Refused again and again: one new token per call, then the 401 itself.
    revoked.add(minted[1]!);
    const origPush = minted.push.bind(minted);
    minted.push = (...t: string[]) => {
      for (const x of t) revoked.add(x);
      return origPush(...t);
    };
    await expect(sf.me()).rejects.toBeInstanceOf(AuthenticationError);
    expect(minted).toHaveLength(3);
  });

  it("a refusal of the exchange is one error naming the server's code", async () => {
    const { api } = await fakeApi({ refuse: { status: 403, code: "oidc_no_matching_policy", detail: "No trust policy matches this token" } });
    const runner = await fakeRunner();
    open.push(api, runner);
    const err = await new SpeedyFiles({ baseUrl: api.url, tokenProvider: federatedToken({ env: githubEnv(runner) }) }).me().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FederatedAuthError);
    expect(err).toMatchObject({ code: "oidc_no_matching_policy", status: 403 });
    expect((err as Error).message).toBe(`${api.url} refused this GitHub Actions job's ID token (oidc_no_matching_policy): No trust policy matches this token`);
    expect((err as Error).message).not.toContain("jwt-from-github");
  });

  it("the runner refusing the ID token request, or no identity at all, are errors in words", async () => {
    const { api } = await fakeApi();
    const runner = await fakeRunner({ status: 403 });
    open.push(api, runner);
    const refused = await new SpeedyFiles({ baseUrl: api.url, tokenProvider: federatedToken({ env: githubEnv(runner) }) }).me().catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "id_token_unavailable", message: "GitHub Actions refused the ID token request (HTTP 403)" });
    const none = await new SpeedyFiles({ baseUrl: api.url, tokenProvider: federatedToken({ env: { GITHUB_ACTIONS: "true" } }) }).me().catch((e: unknown) => e);
    expect(none).toBeInstanceOf(FederatedAuthError);
    expect(none).toMatchObject({ code: "no_ci_identity" });
    expect((none as Error).message).toMatch(/permissions: id-token: write/);
    expect(api.seen).toHaveLength(0);
  });
});
