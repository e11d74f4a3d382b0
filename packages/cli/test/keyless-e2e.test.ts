// Keyless CI end to end: an admin's trust policy, a real OIDC issuer, a GitHub runner's ID-token
// endpoint, and the built `sf` in its own process sending with no stored token and waiting for the
// download, all against the real server.
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SpeedyFiles } from "@speedyfiles/sdk";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { REPOSITORY_ID, startTestIssuer, type TestIssuer } from "@speedyfiles/test-utils/oidc-issuer";
import { baseEnv, runSf, startSf } from "./proc.js";
import { tempDir } from "./helpers.js";

const REQUEST_TOKEN = "runner-request-token";

interface Runner {
  url: string;
  /** The audience each ID token was asked for, the ID tokens handed out, the requests refused. */
  audiences: string[];
  issued: string[];
  refused: string[];
  close(): Promise<void>;
}

/**
 * GitHub's runner side: `GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=<aud>` with the job's request
 * token as a bearer answers `{value: <ID token for aud>}`, signed by the real test issuer.
 */
async function fakeRunner(issuer: TestIssuer, t: TestServer): Promise<Runner> {
  const audiences: string[] = [];
  const issued: string[] = [];
  const refused: string[] = [];
  const server = http.createServer((req, res) => {
    const answer = (status: number, body: unknown) => res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
    const url = new URL(req.url ?? "/", "http://runner");
    const audience = url.searchParams.get("audience");
    if (url.pathname !== "/idtoken" || url.searchParams.get("api-version") !== "2.0" || req.headers.authorization !== `bearer ${REQUEST_TOKEN}` || !audience) {
      refused.push(req.url ?? "");
      return answer(401, { message: "Bad request token or no audience" });
    }
    audiences.push(audience);
    void issuer.sign({ now: t.clock.now(), claims: { aud: audience } }).then((jwt) => {
      issued.push(jwt);
      answer(200, { value: jwt });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    audiences,
    issued,
    refused,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

interface SendJson {
  id: string;
  magic_link: string;
  status: string;
  links: { recipient_email: string; magic_link: string }[];
  files: { name: string; size: number }[];
  downloads?: { recipient_email: string; completed_at: string }[];
}

describe.each(DATABASES)("keyless CI end to end: sf in a GitHub job, no stored token (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let issuer: TestIssuer;
  let admin: SpeedyFiles;
  let ci: Awaited<ReturnType<TestServer["createUser"]>>;
  let work: string;
  let folder: string;

  beforeAll(async () => {
    [smtp, issuer] = await Promise.all([startTestSmtp(), startTestIssuer()]);
    t = await startTestServer(kind, { env: { SF_OIDC_ALLOW_INSECURE_ISSUERS: "true", SF_SMTP_URL: smtp.url } });
    // The policy's user is an admin: the minted token must still hold only the policy's scopes.
    const [a, c] = await Promise.all([t.createUser({ role: "admin" }), t.createUser({ role: "admin", email: "ci-bot@example.com" })]);
    admin = new SpeedyFiles({ baseUrl: t.url, token: a.token });
    ci = c;
    work = await tempDir("sf-keyless-");
    folder = path.join(work, "release");
    await fs.mkdir(path.join(folder, "docs"), { recursive: true });
    await fs.writeFile(path.join(folder, "app.tgz"), Buffer.alloc(200_000, 5));
    await fs.writeFile(path.join(folder, "docs/notes.txt"), "release notes\n");
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    await issuer?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** A policy for the test issuer whose audience is the server's origin (what sf asks for by default). */
  const policy = (name: string, repositoryId: string) =>
    admin.admin.trustPolicies.create({
      name,
      issuer: issuer.url,
      audience: new URL(t.url).origin,
      conditions: { repository_id: repositoryId, sub: "repo:acme/app:ref:refs/heads/*" },
      user_email: ci.user.email,
      scopes: ["packages:read", "packages:write"],
      token_ttl_seconds: 600,
    });

  /** What the runner gives a job's steps (and no SF_TOKEN, no saved profile). */
  async function jobEnv(runner: Runner, run: { id: string; job: string }): Promise<Record<string, string>> {
    const home = await tempDir("sf-keyless-home-");
    return {
      ...baseEnv(home),
      XDG_CONFIG_HOME: path.join(home, ".config"),
      XDG_STATE_HOME: path.join(home, ".local/state"),
      SF_URL: t.url,
      CI: "true",
      GITHUB_ACTIONS: "true",
      GITHUB_REPOSITORY: "acme/app",
      GITHUB_REPOSITORY_ID: REPOSITORY_ID,
      GITHUB_RUN_ID: run.id,
      GITHUB_RUN_ATTEMPT: "1",
      GITHUB_JOB: run.job,
      GITHUB_WORKFLOW: "release",
      GITHUB_REF: "refs/heads/main",
      ACTIONS_ID_TOKEN_REQUEST_URL: `${runner.url}/idtoken?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN,
    };
  }

  const mailsTo = (email: string) => smtp.messages.filter((m) => m.envelope.to.includes(email));
  /** The secret of the link a mail carries (the mail's host is the server's configured public URL). */
  const secretIn = (text: string | undefined) => /\/l\/([A-Za-z0-9_-]{43})/.exec(text ?? "")?.[1];

  it("sends a folder, waits for the download, exits 0; a rerun answers the same package; the token is no admin's", async () => {
    const p = await policy("acme/app releases", REPOSITORY_ID);
    const runner = await fakeRunner(issuer, t);
    const to = "qa@example.com";
    try {
      const env = await jobEnv(runner, { id: "7001", job: "ship" });
      const args = ["send", folder, "--to", to, "--wait-for-download=60s", "--json"];
      const run = startSf(args, env);
      run.child.stdin.end();
      await run.waitForStderr(/Waiting up to 1m for 1 recipient to download everything…/, 30_000);

      // The recipient downloads everything through the link the mail carried.
      const mail = await smtp.waitForMail((m) => m.envelope.to.includes(to));
      const secret = secretIn(mail.parsed.text);
      expect(secret).toBeDefined();
      const into = await tempDir("sf-keyless-dl-");
      await new SpeedyFiles({ baseUrl: t.url }).links.downloadAll(`${t.url}/l/${secret}`, into);
      expect(await fs.readFile(path.join(into, "release/docs/notes.txt"), "utf8")).toBe("release notes\n");

      const r = await run.done;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`${to} downloaded everything`);
      const out = JSON.parse(r.stdout) as SendJson;
      expect(out).toMatchObject({ status: "active", links: [{ recipient_email: to }] });
      expect(out.magic_link.endsWith(`/l/${secret}`)).toBe(true);
      expect(out.files.map((f) => f.name).sort()).toEqual(["release/app.tgz", "release/docs/notes.txt"]);
      expect(out.downloads?.map((d) => d.recipient_email)).toEqual([to]);
      expect(runner.refused).toEqual([]);
      // sf asked the runner for its default audience, the server's origin, which the policy names.
      expect(runner.audiences.length).toBeGreaterThan(0);
      expect(new Set(runner.audiences)).toEqual(new Set([new URL(t.url).origin]));

      // The package is the policy's user's, made with a federated token.
      const ciSdk = new SpeedyFiles({ baseUrl: t.url, token: ci.token });
      const pkg = await ciSdk.packages.get(out.id);
      expect(pkg.status).toBe("active");
      expect((await ciSdk.packages.list({ per_page: 100 })).items.map((x) => x.id)).toContain(out.id);
      const someoneElse = await t.createUser();
      const theirs = await t.fetch(`/packages/${out.id}`, { token: someoneElse.token });
      expect([theirs.status, ((await theirs.json()) as { code: string }).code]).toEqual([403, "package_forbidden"]);

      // A rerun of the step in the same run and job: the same package, no second email.
      const again = await runSf(args, { env });
      expect(again.code, again.stderr).toBe(0);
      const second = JSON.parse(again.stdout) as SendJson;
      expect(second.id).toBe(out.id);
      expect(second.magic_link).toBe(out.magic_link);
      expect(second.downloads?.map((d) => d.recipient_email)).toEqual([to]);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(mailsTo(to)).toHaveLength(1);

      // What the runner's ID token is exchanged for holds the policy's scopes only: no admin call.
      const jwt = runner.issued.at(-1)!;
      const minted = (await (await t.fetch("/auth/oidc", { method: "POST", json: { token: jwt } })).json()) as { token: string; scopes: string[] };
      expect(minted.scopes).toEqual(["packages:read", "packages:write"]);
      const users = await t.fetch("/admin/users", { token: minted.token });
      expect(users.status).toBe(403);
      expect(((await users.json()) as { code: string }).code).toBe("insufficient_scope");
      const trust = await t.fetch("/admin/trust-policies", { token: minted.token });
      expect(trust.status).toBe(403);
      const tokens = await t.fetch("/me/tokens", { method: "POST", token: minted.token, json: { name: "escalate" } });
      expect(tokens.status).toBe(403);
    } finally {
      await runner.close();
      await admin.admin.trustPolicies.delete(p.id);
    }
  }, 120_000);

  it("a policy pinned to another repository_id: sf exits non-zero with one line naming oidc_no_matching_policy", async () => {
    const p = await policy("someone else's repo", "111111111");
    const runner = await fakeRunner(issuer, t);
    try {
      const env = await jobEnv(runner, { id: "7002", job: "ship" });
      const r = await runSf(["send", folder, "--to", "nobody@example.com", "--wait-for-download=60s", "--json"], { env });
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe("");
      const lines = r.stderr.split("\n").filter(Boolean);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^error: .*refused this GitHub Actions job's ID token \(oidc_no_matching_policy\)/);
      expect(runner.issued.length).toBeGreaterThan(0);
      expect(mailsTo("nobody@example.com")).toHaveLength(0);
    } finally {
      await runner.close();
      await admin.admin.trustPolicies.delete(p.id);
    }
  }, 60_000);
});
