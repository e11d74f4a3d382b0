// The release as a user gets it: `npm run release` output (release/), installed with plain npm
// into folders outside the workspace, and the single executable run where no `node` is on PATH,
// all against a live server. Slow (npm installs, a 120 MB binary), so everything is here.
import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { CLI } from "./proc.js";

const ROOT = path.resolve(CLI, "../..");
const RELEASE = path.join(ROOT, "release");
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const tarball = (name: string) => path.join(RELEASE, `speedyfiles-${name}-${VERSION}.tgz`);
const SEA = path.join(RELEASE, `sf-${process.platform}-${process.arch}`);
const TSC = path.join(CLI, "node_modules/typescript/bin/tsc");
/** The folder of the node running the tests: first on PATH for npm and the installed `sf`. */
const NODE_DIR = path.dirname(process.execPath);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program asynchronously (the live server answers from this process meanwhile). */
function exec(cmd: string, args: string[], opts: { cwd: string; env: Record<string, string>; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c));
    child.stderr.on("data", (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 240_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** This process's environment without npm's, pnpm's and our own settings; node first on PATH. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(npm_|pnpm_|SF_|NODE_OPTIONS$|VITEST|TEST$|INIT_CWD$)/i.test(k)) continue;
    env[k] = v;
  }
  // A registry or cache the developer chose still applies.
  for (const k of ["npm_config_registry", "npm_config_cache"]) if (process.env[k]) env[k] = process.env[k]!;
  return { ...env, PATH: `${NODE_DIR}${path.delimiter}${process.env.PATH ?? ""}`, ...extra };
}

const NPM_FLAGS = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"];

async function npm(args: string[], cwd: string, env: Record<string, string>): Promise<void> {
  const r = await exec("npm", [...args, ...NPM_FLAGS], { cwd, env });
  if (r.code !== 0) throw new Error(`npm ${args.join(" ")} failed (${r.code}):\n${r.stdout}${r.stderr}`);
}

/** Newest modification time under `p` (files only; node_modules and dist skipped). */
function newest(p: string): number {
  const st = fs.statSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const e of fs.readdirSync(p)) if (e !== "node_modules" && e !== "dist") t = Math.max(t, newest(path.join(p, e)));
  return t;
}

/** release/ is reused when it was built after every input of it last changed. */
function releaseIsFresh(): boolean {
  const sums = fs.statSync(path.join(RELEASE, "SHA256SUMS"), { throwIfNoEntry: false });
  if (!sums) return false;
  const inputs = [
    "openapi.yaml",
    "package.json",
    "pnpm-lock.yaml",
    "scripts/release.mjs",
    "scripts/prepack.mjs",
    ...["sdk", "cli", "server"].flatMap((p) => [`packages/${p}/src`, `packages/${p}/package.json`, `packages/${p}/README.md`]),
    "packages/server/assets",
  ];
  return inputs.every((i) => newest(path.join(ROOT, i)) < sums.mtimeMs) && fs.existsSync(SEA);
}

function buildRelease(): void {
  // test/global-setup.ts has built the SDK's ESM output and the CLI. What else the tarballs hold
  // is built here: the SDK's CommonJS output and the server, which no other CLI test reads from
  // dist/, so building them while other test files run is safe; then pack without rebuilding.
  const pnpmEnv = { ...process.env, PATH: `${NODE_DIR}${path.delimiter}${process.env.PATH ?? ""}` };
  for (const [cmd, args] of [
    ["pnpm", ["--filter", "@speedyfiles/sdk", "run", "build:cjs"]],
    ["pnpm", ["--filter", "@speedyfiles/server", "run", "build"]],
    [process.execPath, ["scripts/release.mjs", "--no-build"]],
  ] as const) {
    const r = spawnSync(cmd, args, { cwd: ROOT, env: pnpmEnv, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed:\n${r.stdout}${r.stderr}`);
  }
}

/**
 * A stand-in for the npm registry's @speedyfiles scope, serving the SDK tarball as its one
 * version: what `npm i -g @speedyfiles/cli` sees once the SDK is published (the CLI depends on
 * the SDK by version). Every other package still comes from the real registry.
 */
async function startScopeRegistry(): Promise<{ url: string; close(): Promise<void> }> {
  const tgz = fs.readFileSync(tarball("sdk"));
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "packages/sdk/package.json"), "utf8")) as Record<string, unknown>;
  const server = http.createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const url = decodeURIComponent(req.url ?? "");
    if (url === "/@speedyfiles/sdk") {
      const { scripts: _scripts, devDependencies: _dev, ...published } = manifest;
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          name: "@speedyfiles/sdk",
          "dist-tags": { latest: VERSION },
          versions: {
            [VERSION]: {
              ...published,
              dist: {
                tarball: `${base}/sdk.tgz`,
                integrity: `sha512-${crypto.createHash("sha512").update(tgz).digest("base64")}`,
                shasum: crypto.createHash("sha1").update(tgz).digest("hex"),
              },
            },
          },
        }),
      );
    } else if (url === "/sdk.tgz") {
      res.setHeader("content-type", "application/octet-stream");
      res.end(tgz);
    } else {
      res.statusCode = 404;
      res.end('{"error":"not found"}');
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe("the release, installed as a user would", { timeout: 300_000 }, () => {
  let t: TestServer;
  let user: { email: string; token: string };
  let tmp: string;
  let registry: Awaited<ReturnType<typeof startScopeRegistry>>;

  beforeAll(async () => {
    if (!releaseIsFresh()) buildRelease();
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "sf-release-")));
    // Outside the workspace: no node_modules above it to fall back on.
    expect(path.relative(ROOT, tmp).startsWith("..")).toBe(true);
    t = await startTestServer("sqlite");
    const u = await t.createUser();
    user = { email: u.user.email, token: u.token };
    registry = await startScopeRegistry();
  }, 600_000);
  afterAll(async () => {
    await registry?.close();
    await t?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("release/ holds the three tarballs, the executable and their SHA256SUMS", () => {
    const sums = fs.readFileSync(path.join(RELEASE, "SHA256SUMS"), "utf8");
    const names = [`speedyfiles-cli-${VERSION}.tgz`, `speedyfiles-sdk-${VERSION}.tgz`, `speedyfiles-server-${VERSION}.tgz`, path.basename(SEA)].sort();
    expect(
      sums
        .trim()
        .split("\n")
        .map((l) => l.split("  ")[1])
        .sort(),
    ).toEqual(names);
    for (const line of sums.trim().split("\n")) {
      const [hash, name] = line.split("  ");
      expect(
        crypto
          .createHash("sha256")
          .update(fs.readFileSync(path.join(RELEASE, name!)))
          .digest("hex"),
        name,
      ).toBe(hash);
    }
    // `workspace:*` became the real version, and the server carries the spec it reads.
    const list = spawnSync("tar", ["-xzOf", tarball("cli"), "package/package.json"], { encoding: "utf8" });
    expect((JSON.parse(list.stdout) as { dependencies: Record<string, string> }).dependencies["@speedyfiles/sdk"]).toBe(VERSION);
    const server = spawnSync("tar", ["-tzf", tarball("server")], { encoding: "utf8" }).stdout.split("\n");
    expect(server).toEqual(expect.arrayContaining(["package/openapi.yaml", "package/dist/main.js", "package/LICENSE", "package/assets/web.css"]));
  });

  it("the SDK tarball installs alone; ESM, CommonJS and strict TypeScript (nodenext) use it against the server", async () => {
    const dir = path.join(tmp, "sdk-project");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "sdk-project", private: true }));
    const env = cleanEnv();
    await npm(["install", tarball("sdk"), "@types/node@^22"], dir, env);
    const runEnv = cleanEnv({ SF_URL: t.url, SF_TOKEN: user.token });

    fs.writeFileSync(path.join(dir, "hello.txt"), "hello from the release test\n");
    fs.writeFileSync(
      path.join(dir, "esm.mjs"),
      `import { SpeedyFiles, VERSION, NotFoundError } from "@speedyfiles/sdk";
const sf = new SpeedyFiles();
const me = await sf.me();
const sent = await sf.send({ files: ["hello.txt"], to: "qa@example.com" });
let notFound = false;
try { await sf.packages.get("00000000-0000-4000-8000-000000000000"); } catch (e) { notFound = e instanceof NotFoundError; }
console.log(JSON.stringify({ version: VERSION, email: me.email, link: sent.magic_link, notFound }));
`,
    );
    const esm = await exec(process.execPath, ["esm.mjs"], { cwd: dir, env: runEnv });
    expect(esm.code, esm.stderr).toBe(0);
    const e = JSON.parse(esm.stdout) as { version: string; email: string; link: string; notFound: boolean };
    expect(e).toMatchObject({ version: VERSION, email: user.email, notFound: true });
    expect(e.link).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);

    fs.writeFileSync(
      path.join(dir, "cjs.cjs"),
      `const { SpeedyFiles, VERSION, AuthenticationError } = require("@speedyfiles/sdk");
(async () => {
  const me = await new SpeedyFiles().me();
  let unauthenticated = false;
  try { await new SpeedyFiles({ baseUrl: process.env.SF_URL, token: "sf_" + "Z".repeat(43) }).me(); } catch (e) { unauthenticated = e instanceof AuthenticationError; }
  console.log(JSON.stringify({ version: VERSION, email: me.email, unauthenticated }));
})();
`,
    );
    const cjs = await exec(process.execPath, ["cjs.cjs"], { cwd: dir, env: runEnv });
    expect(cjs.code, cjs.stderr).toBe(0);
    expect(JSON.parse(cjs.stdout)).toEqual({ version: VERSION, email: user.email, unauthenticated: true });

    // Both module kinds, type-checked: `import` resolves the ESM types, `require` the CommonJS ones.
    const body = `
export async function check(sf: SpeedyFiles): Promise<string> {
  const me: User = await sf.me();
  // @ts-expect-error not a field of User: the types are the API's, not \`any\`
  me.no_such_field;
  const v: string = VERSION;
  return \`\${v} \${me.email} \${me.role}\`;
}
`;
    fs.writeFileSync(path.join(dir, "check.mts"), `import { SpeedyFiles, VERSION, type User } from "@speedyfiles/sdk";\n${body}`);
    fs.writeFileSync(path.join(dir, "check.cts"), `import { SpeedyFiles, VERSION, type User } from "@speedyfiles/sdk";\n${body}`);
    fs.writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "es2022", strict: true, noEmit: true, types: ["node"] },
        files: ["check.mts", "check.cts"],
      }),
    );
    const tsc = await exec(process.execPath, [TSC, "-p", "tsconfig.json", "--strict", "--noEmit"], { cwd: dir, env });
    expect(tsc.code, tsc.stdout + tsc.stderr).toBe(0);
  });

  it("the CLI tarball installs into a project beside the SDK's, and globally with npm i -g --prefix", async () => {
    const env = cleanEnv();
    const scope = `--@speedyfiles:registry=${registry.url}`;
    const runEnv = (home: string) => cleanEnv({ HOME: home, SF_URL: t.url, SF_TOKEN: user.token });
    const home = path.join(tmp, "home");
    fs.mkdirSync(home);

    const project = path.join(tmp, "cli-project");
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "cli-project", private: true }));
    await npm(["install", scope, tarball("sdk"), tarball("cli")], project, env);
    const local = path.join(project, "node_modules/.bin/sf");
    expect((await exec(local, ["--version"], { cwd: project, env: runEnv(home) })).stdout).toBe(`${VERSION}\n`);

    const prefix = path.join(tmp, "global");
    await npm(["install", scope, "-g", "--prefix", prefix, tarball("cli")], tmp, env);
    const sf = path.join(prefix, "bin/sf");
    const version = await exec(sf, ["--version"], { cwd: tmp, env: runEnv(home) });
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toBe(`${VERSION}\n`);
    const who = await exec(sf, ["whoami"], { cwd: tmp, env: runEnv(home) });
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toBe(`${user.email}\n`);
  });

  it("the single executable runs with no node on PATH: --version, whoami and send against the server", async () => {
    const bin = path.join(tmp, "empty-bin");
    const home = path.join(tmp, "sea-home");
    fs.mkdirSync(bin);
    fs.mkdirSync(home);
    fs.writeFileSync(path.join(home, "note.txt"), "sent by the single executable\n");
    // Nothing but what the program needs: no node anywhere on PATH, no inherited variables.
    const env = { PATH: bin, HOME: home, SF_URL: t.url, SF_TOKEN: user.token };
    expect(spawnSync("sh", ["-c", "command -v node"], { env: { PATH: bin } }).status).not.toBe(0);

    const version = await exec(SEA, ["--version"], { cwd: home, env });
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toBe(`${VERSION}\n`);
    const who = await exec(SEA, ["whoami"], { cwd: home, env });
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toBe(`${user.email}\n`);
    const sent = await exec(SEA, ["send", "note.txt", "--to", "qa@example.com"], { cwd: home, env });
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout.trim()).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
    const bad = await exec(SEA, ["whoami"], { cwd: home, env: { ...env, SF_TOKEN: `sf_${"Z".repeat(43)}` } });
    expect(bad.code).toBe(3);
  });
});
