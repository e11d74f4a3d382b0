import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { REPOSITORY_ID, startTestIssuer, type TestIssuer } from "@speedyfiles/test-utils/oidc-issuer";
import { SpeedyFiles } from "@speedyfiles/sdk";
import { idempotencyKey, readInputs, readRunner } from "../src/inputs.js";
import { fakeServer, runAction } from "./helpers.js";

const sha = (b: Buffer | string) => crypto.createHash("sha256").update(b).digest("hex");

/** The lines of a job log that are not workflow commands (what a person reads). */
const plainLines = (stdout: string) => stdout.split("\n").filter((l) => !l.startsWith("::"));

describe.each(DATABASES)("the GitHub Action against the real server (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let issuer: TestIssuer;
  let workspace: string;

  beforeAll(async () => {
    [smtp, issuer] = await Promise.all([startTestSmtp(), startTestIssuer()]);
    // An http:// issuer (the test one) may be trusted here.
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url, SF_OIDC_ALLOW_INSECURE_ISSUERS: "true" } });
    workspace = await fs.mkdtemp(path.join(os.tmpdir(), "sf-action-ws-"));
    await fs.mkdir(path.join(workspace, "build/assets"), { recursive: true });
    await fs.writeFile(path.join(workspace, "build/index.html"), "<h1>hello</h1>\n");
    await fs.writeFile(path.join(workspace, "build/assets/app.js"), "console.log(1)\n");
    await fs.writeFile(path.join(workspace, "build/assets/big.bin"), Buffer.alloc(300_000, 9));
    await fs.mkdir(path.join(workspace, "dist"), { recursive: true });
    await fs.writeFile(path.join(workspace, "dist/app-1.0.tgz"), "tgz");
    await fs.writeFile(path.join(workspace, "dist/app-1.0.zip"), "zip");
    await fs.writeFile(path.join(workspace, "dist/notes.txt"), "notes");
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    await issuer?.close();
    await fs.rm(workspace, { recursive: true, force: true });
  });

  const mailsTo = (email: string) => smtp.messages.filter((m) => m.envelope.to.includes(email));

  it("sends a folder with a token: link, package-id and files outputs, the link masked", async () => {
    const u = await t.createUser();
    const to = `qa-${crypto.randomBytes(4).toString("hex")}@example.com`;
    const r = await runAction({ url: t.url, path: "build", to, token: u.token, "ttl-days": "3" }, { workspace });
    expect(r.code, r.stdout + r.stderr).toBe(0);

    const link = r.outputs.link!;
    expect(link).toMatch(/^https?:\/\/[^/]+\/l\/[A-Za-z0-9_-]{20,}$/);
    // Masked before it could appear anywhere else, and nowhere in plain text.
    expect(r.stdout).toContain(`::add-mask::${link}\n`);
    expect(r.stdout.indexOf(`::add-mask::${link}`)).toBeLessThan(r.stdout.indexOf("Sent "));
    expect(plainLines(r.stdout).join("\n")).not.toContain(link);
    expect(plainLines(r.stdout).join("\n")).not.toContain(u.token);

    const files = JSON.parse(r.outputs.files!) as { name: string; size: number; sha256: string }[];
    expect(files.map((f) => f.name).sort()).toEqual(["build/assets/app.js", "build/assets/big.bin", "build/index.html"]);
    expect(files.find((f) => f.name === "build/assets/big.bin")).toEqual({ name: "build/assets/big.bin", size: 300_000, sha256: sha(Buffer.alloc(300_000, 9)) });
    expect(files.find((f) => f.name === "build/index.html")?.sha256).toBe(sha("<h1>hello</h1>\n"));

    const pkg = (await (await t.fetch(`/packages/${r.outputs["package-id"]}`, { token: u.token })).json()) as { status: string; title: string; files: unknown[] };
    expect(pkg).toMatchObject({ status: "active", title: "build" });
    const mail = await smtp.waitForMail((m) => m.envelope.to.includes(to));
    expect(mail.parsed.text).toContain(link);
  });

  it("a retried step (same run, job and inputs) answers the same package and sends no second email", async () => {
    const u = await t.createUser();
    const to = `retry-${crypto.randomBytes(4).toString("hex")}@example.com`;
    const env = { GITHUB_RUN_ID: `9${Date.now()}`, GITHUB_JOB: "deliver" };
    const inputs = { url: t.url, path: "build", to, token: u.token };
    const first = await runAction(inputs, { workspace, env });
    expect(first.code, first.stdout).toBe(0);
    await smtp.waitForMail((m) => m.envelope.to.includes(to));

    const again = await runAction(inputs, { workspace, env });
    expect(again.code, again.stdout).toBe(0);
    expect(again.outputs["package-id"]).toBe(first.outputs["package-id"]);
    expect(again.outputs.link).toBe(first.outputs.link);
    expect(again.stdout).toContain(`::add-mask::${first.outputs.link}`);
    await new Promise((r) => setTimeout(r, 300));
    expect(mailsTo(to)).toHaveLength(1);

    // Another run of the workflow is another send.
    const next = await runAction(inputs, { workspace, env: { ...env, GITHUB_RUN_ID: `8${Date.now()}` } });
    expect(next.code, next.stdout).toBe(0);
    expect(next.outputs["package-id"]).not.toBe(first.outputs["package-id"]);
  });

  it("finishes the draft an interrupted attempt left, sending only the missing files", async () => {
    const u = await t.createUser();
    const to = `resume-${crypto.randomBytes(4).toString("hex")}@example.com`;
    const env = { GITHUB_RUN_ID: `7${Date.now()}`, GITHUB_JOB: "deliver", GITHUB_ACTION: "__speedyfiles", GITHUB_REPOSITORY: "acme/app" };
    const inputs = { url: t.url, path: "dist/*.tgz dist/*.zip", to, title: "Nightly", token: u.token };
    // The first attempt died after its create and one upload (done here through the SDK, with the
    // key that attempt derived).
    const parsed = readInputs(Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])));
    const key = idempotencyKey({ ...parsed, paths: ["dist/*.tgz", "dist/*.zip"] }, readRunner(env))!;
    const sdk = new SpeedyFiles({ baseUrl: t.url, token: u.token });
    const draft = await sdk.packages.create({ title: "Nightly", recipient_email: to, direction: "outbound", ttl_days: 7 }, { idempotencyKey: `${key}-create` });
    await sdk.uploadFile(draft.id, path.join(workspace, "dist/app-1.0.tgz"), { name: "app-1.0.tgz" });

    const r = await runAction(inputs, { workspace, env });
    expect(r.code, r.stdout).toBe(0);
    expect(r.outputs["package-id"]).toBe(draft.id);
    expect(r.stdout).toContain("already on the server: app-1.0.tgz");
    expect(r.stdout).toContain("sent: app-1.0.zip");
    expect(
      JSON.parse(r.outputs.files!)
        .map((f: { name: string }) => f.name)
        .sort(),
    ).toEqual(["app-1.0.tgz", "app-1.0.zip"]);
    await smtp.waitForMail((m) => m.envelope.to.includes(to));
    expect(mailsTo(to)).toHaveLength(1);
  });

  it("takes globs and several recipients; each recipient's link is masked", async () => {
    const u = await t.createUser();
    const a = `a-${crypto.randomBytes(4).toString("hex")}@example.com`;
    const b = `b-${crypto.randomBytes(4).toString("hex")}@example.com`;
    const r = await runAction({ url: t.url, path: 'dist/*.tgz\n"dist/app-1.0.zip"', to: `${a}, ${b}`, title: "Release 1.0", message: "Enjoy", token: u.token }, { workspace });
    expect(r.code, r.stdout).toBe(0);
    expect(JSON.parse(r.outputs.files!).map((f: { name: string }) => f.name)).toEqual(["app-1.0.tgz", "app-1.0.zip"]);
    const [ma, mb] = await Promise.all([smtp.waitForMail((m) => m.envelope.to.includes(a)), smtp.waitForMail((m) => m.envelope.to.includes(b))]);
    for (const m of [ma, mb]) {
      const link = /https?:\/\/\S+\/l\/[A-Za-z0-9_-]+/.exec(m.parsed.text ?? "")?.[0];
      expect(link).toBeDefined();
      expect(r.stdout).toContain(`::add-mask::${link}`);
    }
  });

  it("reveal-link: true shows the link and does not mask it", async () => {
    const u = await t.createUser();
    const r = await runAction({ url: t.url, path: "dist/notes.txt", to: "reveal@example.com", token: u.token, "reveal-link": "true" }, { workspace });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).not.toContain("::add-mask::http");
    expect(r.stdout).toContain(`Link: ${r.outputs.link}`);
  });

  it("fails with one ::error:: line and exit 1 on a bad token", async () => {
    const bad = `sf_${"x".repeat(43)}`;
    const r = await runAction({ url: t.url, path: "build", to: "qa@example.com", token: bad }, { workspace });
    expect(r.code).toBe(1);
    const errors = r.stdout.split("\n").filter((l) => l.startsWith("::error::"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^::error::the server refused the token/);
    expect(errors[0]).not.toContain(bad);
    expect(r.outputs).toEqual({});
  });

  it("fails with ::error:: on a missing input or a path that does not exist", async () => {
    const u = await t.createUser();
    const noTo = await runAction({ url: t.url, path: "build", token: u.token }, { workspace });
    expect(noTo.code).toBe(1);
    expect(noTo.stdout).toMatch(/^::error::the to input is required/m);
    const missing = await runAction({ url: t.url, path: "nope/*.zip", to: "qa@example.com", token: u.token }, { workspace });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/^::error::path: nothing matches nope\/\*\.zip$/m);
    const badTtl = await runAction({ url: t.url, path: "build", to: "qa@example.com", token: u.token, "ttl-days": "soon" }, { workspace });
    expect(badTtl.stdout).toMatch(/^::error::ttl-days must be a whole number/m);
  });

  /** The secret of `email`'s link, from the mail they got. */
  const secretFor = async (email: string) => {
    const m = await smtp.waitForMail((x) => x.envelope.to.includes(email));
    return /\/l\/([A-Za-z0-9_-]+)/.exec(m.parsed.text ?? "")![1]!;
  };

  it("wait-for-download: keeps waiting after one of two recipients downloads, ends when the second has everything", async () => {
    const u = await t.createUser();
    const a = `wait-a-${crypto.randomBytes(4).toString("hex")}@example.com`;
    const b = `wait-b-${crypto.randomBytes(4).toString("hex")}@example.com`;
    const steps = { first: false, second: false };
    let secondAt = 0;
    const r = await runAction(
      { url: t.url, path: "dist/notes.txt dist/app-1.0.zip", to: `${a}, ${b}`, token: u.token, "wait-for-download": "2m" },
      {
        workspace,
        onStdout: (text) => {
          if (!steps.first && text.includes("Waiting up to 2m until all 2 recipients have downloaded every file")) {
            steps.first = true;
            // The first recipient downloads both files, one by one.
            void secretFor(a).then(async (secret) => {
              const view = (await (await t.fetch(`/links/${secret}`)).json()) as { files: { id: string }[] };
              for (const f of view.files) await (await t.fetch(`/links/${secret}/files/${f.id}`)).arrayBuffer();
            });
          }
          if (!steps.second && text.includes(`Downloaded every file: ${a}`)) {
            steps.second = true;
            // The step is still running; a while later the second recipient takes the archive.
            void secretFor(b).then(async (secret) => {
              await new Promise((resolve) => setTimeout(resolve, 1500));
              secondAt = Date.now();
              await (await t.fetch(`/links/${secret}/archive`)).arrayBuffer();
            });
          }
        },
      },
    );
    expect(r.code, r.stdout).toBe(0);
    expect(secondAt).toBeGreaterThan(0);
    const plain = plainLines(r.stdout);
    const first = plain.findIndex((l) => l.startsWith(`Downloaded every file: ${a}`));
    const second = plain.findIndex((l) => l.startsWith(`Downloaded every file: ${b}`));
    expect(first).toBeGreaterThan(-1);
    expect(second).toBeGreaterThan(first);
    expect(plain.at(-2)).toBe("Every recipient has downloaded every file.");
    expect(r.stdout).not.toMatch(/^::error::/m);
  }, 60_000);

  it("wait-for-download: fails at the timeout naming who has not downloaded everything, outputs written", async () => {
    const u = await t.createUser();
    const a = `late-a-${crypto.randomBytes(4).toString("hex")}@example.com`;
    const b = `late-b-${crypto.randomBytes(4).toString("hex")}@example.com`;
    const c = `late-c-${crypto.randomBytes(4).toString("hex")}@example.com`;
    // Two files; a takes the archive, b only one of the files, c nothing: b and c are missing.
    let started = false;
    let downloads: Promise<void> = Promise.resolve();
    const r = await runAction(
      { url: t.url, path: "dist/notes.txt dist/app-1.0.zip", to: `${a}\n${b}\n${c}`, token: u.token, "wait-for-download": "4s" },
      {
        workspace,
        onStdout: (text) => {
          if (started || !text.includes("Waiting up to 4s")) return;
          started = true;
          downloads = (async () => {
            await (await t.fetch(`/links/${await secretFor(a)}/archive`)).arrayBuffer();
            const secret = await secretFor(b);
            const view = (await (await t.fetch(`/links/${secret}`)).json()) as { files: { id: string }[] };
            await (await t.fetch(`/links/${secret}/files/${view.files[0]!.id}`)).arrayBuffer();
          })();
        },
      },
    );
    await downloads;
    expect(r.stdout).toContain(`Downloaded every file: ${a}`);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^::error::gave up waiting after 4s: ${b}, ${c} have not downloaded every file yet \\(the package stays sent\\)$`, "m"));
    // The outputs were written before the wait: a later step can still use the link.
    expect(r.outputs["package-id"]).toBeTruthy();
    expect(r.outputs.link).toBeTruthy();
  }, 60_000);

  describe("keyless (no token input)", () => {
    it("asks the runner for an ID token with the audience, masks it, and exchanges it at POST /auth/oidc", async () => {
      const idToken = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ sub: "repo:acme/app" })).toString("base64url")}.sig`;
      const runnerEndpoint = await fakeServer(() => ({ status: 200, json: { value: idToken } }));
      try {
        const r = await runAction(
          { url: t.url, path: "build", to: "qa@example.com", audience: "https://files.acme.test" },
          { workspace, env: { ACTIONS_ID_TOKEN_REQUEST_URL: `${runnerEndpoint.url}/token?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: "runner-request-token" } },
        );
        expect(runnerEndpoint.requests).toHaveLength(1);
        const req = runnerEndpoint.requests[0]!;
        expect(req.method).toBe("GET");
        const url = new URL(req.url, runnerEndpoint.url);
        expect(url.pathname).toBe("/token");
        expect(url.searchParams.get("api-version")).toBe("2.0");
        expect(url.searchParams.get("audience")).toBe("https://files.acme.test");
        expect(req.headers.authorization).toBe("bearer runner-request-token");
        expect(r.stdout).toContain(`::add-mask::${idToken}`);
        // This server does not trust the made-up ID token (or has no exchange yet): refused, plainly.
        expect(r.code).toBe(1);
        expect(r.stdout).toMatch(/^::error::keyless sign-in refused: /m);
        expect(plainLines(r.stdout).join("\n")).not.toContain(idToken);
      } finally {
        await runnerEndpoint.close();
      }
    });

    it("without id-token: write (no runner endpoint) says how to fix it", async () => {
      const r = await runAction({ url: t.url, path: "build", to: "qa@example.com" }, { workspace });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^::error::no token input.*permissions: id-token: write/m);
    });

    it("with the audience defaulting to the url input's origin", async () => {
      const runnerEndpoint = await fakeServer(() => ({ status: 200, json: { value: "id.token.x" } }));
      try {
        await runAction(
          { url: `${t.url}/`, path: "build", to: "qa@example.com" },
          { workspace, env: { ACTIONS_ID_TOKEN_REQUEST_URL: `${runnerEndpoint.url}/t?x=1`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: "rt" } },
        );
        expect(new URL(runnerEndpoint.requests[0]!.url, runnerEndpoint.url).searchParams.get("audience")).toBe(t.url);
      } finally {
        await runnerEndpoint.close();
      }
    });

    /**
     * A trust policy for the test issuer (audience: the url input, the action's default) acting
     * for a fresh user, and GitHub's runner endpoint handing out ID tokens the issuer signed.
     */
    async function keylessSetup(repositoryId = REPOSITORY_ID) {
      const admin = await t.createUser({ role: "admin" });
      const ci = await t.createUser();
      const sdk = new SpeedyFiles({ baseUrl: t.url, token: admin.token });
      const policy = await sdk.admin.trustPolicies.create({
        name: `acme/app ${crypto.randomBytes(3).toString("hex")}`,
        issuer: issuer.url,
        audience: t.url,
        conditions: { repository_id: repositoryId, ref: "refs/heads/main" },
        user_email: ci.user.email,
        scopes: ["packages:read", "packages:write"],
        token_ttl_seconds: 600,
      });
      const idToken = await issuer.sign({ now: t.clock.now(), claims: { aud: t.url } });
      const runner = await fakeServer((req) => {
        const audience = new URL(req.url, "http://runner").searchParams.get("audience");
        if (req.headers.authorization !== "bearer runner-request-token" || audience !== t.url) return { status: 401, json: { message: "no" } };
        return { status: 200, json: { value: idToken } };
      });
      const env = {
        ACTIONS_ID_TOKEN_REQUEST_URL: `${runner.url}/token?api-version=2.0`,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: "runner-request-token",
        GITHUB_RUN_ID: `6${Date.now()}`,
        GITHUB_JOB: "deliver",
      };
      const close = async () => {
        await runner.close();
        await sdk.admin.trustPolicies.delete(policy.id);
      };
      return { ci, idToken, runner, env, close };
    }

    it("keyless end to end: a trusted ID token is exchanged and the send succeeds", async () => {
      const k = await keylessSetup();
      try {
        const to = `keyless-${crypto.randomBytes(4).toString("hex")}@example.com`;
        const r = await runAction({ url: t.url, path: "build", to }, { workspace, env: k.env });
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(k.runner.requests).toHaveLength(1);

        const link = r.outputs.link!;
        expect(link).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
        expect(r.outputs["package-id"]).toBeTruthy();
        expect(
          JSON.parse(r.outputs.files!)
            .map((f: { name: string }) => f.name)
            .sort(),
        ).toEqual(["build/assets/app.js", "build/assets/big.bin", "build/index.html"]);
        // The ID token, the exchanged token and the link are masked; none is in plain text.
        const masks = r.stdout.split("\n").filter((l) => l.startsWith("::add-mask::"));
        expect(masks).toContain(`::add-mask::${k.idToken}`);
        expect(masks.some((l) => /^::add-mask::sf_[A-Za-z0-9_-]{43}$/.test(l))).toBe(true);
        expect(masks).toContain(`::add-mask::${link}`);
        const plain = plainLines(r.stdout).join("\n");
        expect(plain).not.toContain(link);
        expect(plain).not.toContain(k.idToken);
        expect(plain).not.toMatch(/sf_[A-Za-z0-9_-]{43}/);

        // The package is the policy's user's.
        const pkg = await t.fetch(`/packages/${r.outputs["package-id"]}`, { token: k.ci.token });
        expect(pkg.status).toBe(200);
        expect(await pkg.json()).toMatchObject({ status: "active", title: "build" });
        const mail = await smtp.waitForMail((m) => m.envelope.to.includes(to));
        expect(mail.parsed.text).toContain(new URL(link).pathname);

        // A retried step (same run and job), signed in anew: the same package, no second email.
        const retry = await runAction({ url: t.url, path: "build", to }, { workspace, env: k.env });
        expect(retry.code, retry.stdout).toBe(0);
        expect(k.runner.requests).toHaveLength(2);
        expect(retry.outputs["package-id"]).toBe(r.outputs["package-id"]);
        expect(retry.outputs.link).toBe(link);
        expect(retry.stdout).toContain(`::add-mask::${link}`);
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(mailsTo(to)).toHaveLength(1);
      } finally {
        await k.close();
      }
    }, 60_000);

    it("keyless: a policy pinned to another repository refuses the job plainly, nothing is sent", async () => {
      const k = await keylessSetup("111111111");
      try {
        const to = `refused-${crypto.randomBytes(4).toString("hex")}@example.com`;
        const r = await runAction({ url: t.url, path: "build", to }, { workspace, env: k.env });
        expect(r.code).toBe(1);
        const errors = r.stdout.split("\n").filter((l) => l.startsWith("::error::"));
        expect(errors).toHaveLength(1);
        expect(errors[0]).toBe(
          "::error::keyless sign-in refused: No trust policy allows this token (oidc_no_matching_policy) (ask an admin for a trust policy that matches this repository)",
        );
        expect(r.outputs).toEqual({});
        expect(mailsTo(to)).toHaveLength(0);
      } finally {
        await k.close();
      }
    });
  });
});
