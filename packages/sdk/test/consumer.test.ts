// "Done when": a plain Node ESM script in a temp folder that depends on the *built* SDK can log
// in, send a folder and print the magic link, and its errors are typed.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { SpeedyFiles } from "../src/index.js";
import { tmpDir } from "./helpers/tmp.js";

const sdkDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const SCRIPT = `
import { SpeedyFiles, AuthenticationError, ApiError } from "@speedyfiles/sdk";

const [email, password, folder] = process.argv.slice(2);
const anon = new SpeedyFiles({ baseUrl: process.env.SF_URL });

// Errors are typed, even through the built package.
try {
  await anon.auth.login(email, "definitely wrong", "consumer");
} catch (err) {
  console.error(JSON.stringify({ typed: err instanceof AuthenticationError, api: err instanceof ApiError, code: err.code, status: err.status }));
}

const { token } = await anon.auth.login(email, password, "consumer script");
const sf = new SpeedyFiles({ baseUrl: process.env.SF_URL, token });
const { magic_link } = await sf.send({ files: [folder], to: "client@example.com", title: "From the consumer" });
console.log(magic_link);
`;

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the built SDK from a plain ESM project", () => {
  let app: string;
  beforeAll(() => {
    // The package's own build: ESM + declarations, then the CommonJS copy.
    const r = spawnSync("pnpm", ["run", "build"], { cwd: sdkDir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
  }, 120_000);

  beforeAll(async () => {
    app = await tmpDir("sdk-consumer-");
    await fs.writeFile(path.join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module", dependencies: { "@speedyfiles/sdk": "*" } }));
    await fs.mkdir(path.join(app, "node_modules/@speedyfiles"), { recursive: true });
    await fs.symlink(sdkDir, path.join(app, "node_modules/@speedyfiles/sdk"), "dir");
    await fs.writeFile(path.join(app, "send.mjs"), SCRIPT);
    await fs.mkdir(path.join(app, "report/charts"), { recursive: true });
    await fs.writeFile(path.join(app, "report/summary.txt"), "all good");
    await fs.writeFile(path.join(app, "report/charts/q4.csv"), "q,v\n4,42\n");
  });

  it("exposes the public API from dist", async () => {
    const r = await run(process.execPath, ["--input-type=module", "-e", 'import * as sdk from "@speedyfiles/sdk"; console.log(Object.keys(sdk).sort().join(","))'], { cwd: app });
    expect(r.stderr).toBe("");
    const names = r.stdout.trim().split(",");
    for (const n of [
      "SpeedyFiles",
      "createApiClient",
      "ApiError",
      "AuthenticationError",
      "NetworkError",
      "TimeoutError",
      "ChecksumError",
      "AbortError",
      "UnexpectedResponseError",
      "SpeedyFilesError",
      "expandPaths",
    ]) {
      expect(names).toContain(n);
    }
    // Internals stay internal, so they can change without a major version: helpers the SDK uses
    // itself are not part of its API.
    for (const n of ["runPool", "safeJoin", "ProgressTotal", "makeFetch", "uploadStream", "downloadToPath"]) expect(names).not.toContain(n);
    await expect(fs.stat(path.join(sdkDir, "dist/index.d.ts"))).resolves.toBeTruthy();
  });

  describe.each(DATABASES)("against the server (%s)", (kind) => {
    let t: TestServer;
    beforeAll(async () => {
      t = await startTestServer(kind);
    });
    afterAll(async () => {
      await t?.close();
    });

    it("works from CommonJS too: require() gives the same API, typed errors included", async () => {
      const { token } = await t.createUser();
      const cjs = `
const { SpeedyFiles, AuthenticationError } = require("@speedyfiles/sdk");
(async () => {
  const me = await new SpeedyFiles({ baseUrl: process.env.SF_URL, token: process.env.SF_TOKEN }).me();
  const err = await new SpeedyFiles({ baseUrl: process.env.SF_URL, token: "sf_nope" }).me().catch((e) => e);
  console.log(JSON.stringify({ email: me.email, typed: err instanceof AuthenticationError, status: err.status }));
})();`;
      await fs.writeFile(path.join(app, "me.cjs"), cjs);
      const r = await run(process.execPath, ["me.cjs"], { cwd: app, env: { ...process.env, SF_URL: t.url, SF_TOKEN: token } });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ email: expect.stringMatching(/@example\.com$/), typed: true, status: 401 });
    });

    it("logs in, sends a folder and prints a working magic link", async () => {
      const { user, password, token } = await t.createUser();
      const r = await run(process.execPath, ["send.mjs", user.email, password, "report"], { cwd: app, env: { ...process.env, SF_URL: t.url, SF_TOKEN: "" } });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stderr.trim().split("\n")[0]!)).toEqual({ typed: true, api: true, code: "credentials_invalid", status: 401 });
      const link = r.stdout.trim();
      expect(link).toMatch(/^https?:\/\/[^/]+\/l\/[A-Za-z0-9_-]{43}$/);

      // The package behind the link is active with the folder's files.
      const sf = new SpeedyFiles({ baseUrl: t.url, token });
      const { items } = await sf.packages.list({ q: "From the consumer" });
      expect(items).toHaveLength(1);
      const pkg = await sf.packages.get(items[0]!.id);
      expect(pkg).toMatchObject({ status: "active", magic_link_state: "active", recipient_email: "client@example.com" });
      expect(pkg.files.map((f) => f.name).sort()).toEqual(["report/charts/q4.csv", "report/summary.txt"]);
      expect((await sf.tokens.list()).map((x) => x.name)).toContain("consumer script");

      // And the link itself opens (its origin is SF_PUBLIC_URL; the test server listens elsewhere).
      const page = await fetch(`${t.url}${new URL(link).pathname}`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("summary.txt");
    });
  });
});
