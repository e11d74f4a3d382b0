import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { SpeedyFiles } from "@speedyfiles/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { makeTree, tempDir } from "./helpers.js";
import { baseEnv, BIN, runSf, screen } from "./proc.js";

/** `script` in a pty, asynchronously: the test server lives in this process and must keep answering. */
function inPty(cmd: string, log: string, env: Record<string, string>): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const p = spawn("script", ["-qec", cmd, log], { env, stdio: ["ignore", "ignore", "ignore"] });
    const timer = setTimeout(() => p.kill("SIGKILL"), 60_000);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe("the built sf binary, end to end", () => {
  let t: TestServer;
  let home: string;
  let env: Record<string, string>;
  let user: { email: string; password: string; token: string };

  beforeAll(async () => {
    t = await startTestServer("sqlite");
    const u = await t.createUser();
    user = { email: u.user.email, password: u.password, token: u.token };
    home = await tempDir("sf-home-");
    env = baseEnv(home);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await fs.rm(home, { recursive: true, force: true });
  });

  it("login → send a directory → download → the same bytes", async () => {
    const login = await runSf(["login", "--url", t.url, "--email", user.email, "--password-stdin"], { env, input: `${user.password}\n` });
    expect(login.code, login.stderr).toBe(0);
    const cfg = path.join(home, ".config", "speedyfiles", "config.json");
    expect((await fs.stat(cfg)).mode & 0o777).toBe(0o600);

    const tree = await makeTree(home, "report");
    const sent = await runSf(["send", tree, "--to", "cfo@acme.com"], { env });
    expect(sent.code, sent.stderr).toBe(0);
    const link = sent.stdout.trim();
    expect(link).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
    expect(sent.stderr).toMatch(/^sent 4\/4 /m);

    const id = (await runSf(["packages", "list"], { env })).stdout.split("\t")[0]!;
    const out = path.join(home, "downloaded");
    const dl = await runSf(["download", id, "-o", out], { env });
    expect(dl.code, dl.stderr).toBe(0);
    for (const f of ["a.txt", ".hidden", "sub/b.bin", "sub/deeper/c.json"]) {
      expect((await fs.readFile(path.join(out, "report", f))).equals(await fs.readFile(path.join(tree, f))), f).toBe(true);
    }

    const logout = await runSf(["logout"], { env });
    expect(logout.code, logout.stderr).toBe(0);
    expect((await runSf(["whoami"], { env })).code).toBe(3);
  });

  it("exit codes from the process: 0, 2, 3, 4 and --version", async () => {
    const ci = { ...env, SF_URL: t.url, SF_TOKEN: user.token };
    expect((await runSf(["whoami"], { env: ci })).code).toBe(0);
    expect((await runSf(["--bogus"], { env: ci })).code).toBe(2);
    expect((await runSf(["whoami"], { env: { ...ci, SF_TOKEN: `sf_${"Z".repeat(43)}` } })).code).toBe(3);
    const nf = await runSf(["packages", "show", crypto.randomUUID()], { env: ci });
    expect(nf.code).toBe(4);
    expect(nf.stderr).toBe("error: Package not found (404)\n");
    expect((await runSf(["--version"], { env: ci })).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it("SIGINT (Ctrl-C) stops the upload, deletes the draft and exits 130", async () => {
    const ci = { ...env, SF_URL: t.url, SF_TOKEN: user.token };
    const before = (await new SpeedyFiles({ baseUrl: t.url, token: user.token }).packages.list()).total;
    const p = spawn(process.execPath, [BIN, "send", "-", "--filename", "stream.bin", "--to", "qa@acme.com"], { env: ci, stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    p.stderr.on("data", (c: Buffer) => (stderr += c));
    p.stdin.on("error", () => undefined); // the child goes away while we still hold its stdin
    p.stdin.write(crypto.randomBytes(2 * 1024 * 1024)); // and never end it
    const sdk = new SpeedyFiles({ baseUrl: t.url, token: user.token });
    for (let i = 0; i < 200 && (await sdk.packages.list({ status: "draft" })).total === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await sdk.packages.list({ status: "draft" })).total).toBe(1);
    const exited = new Promise<number | null>((resolve) => p.on("close", (code) => resolve(code)));
    p.kill("SIGINT");
    expect(await exited).toBe(130);
    p.stdin.destroy();
    expect(stderr).toContain("interrupted");
    expect((await sdk.packages.list()).total).toBe(before);
  });

  it("on a terminal (script pty): the live display renders, then disappears leaving the summary", async () => {
    const which = spawnSync("script", ["--version"]);
    expect(which.status, "util-linux script is needed for the TTY check").toBe(0);
    const dir = await tempDir("sf-tty-");
    const files: string[] = [];
    for (let i = 0; i < 3; i++) {
      const f = path.join(dir, `part-${i}.bin`);
      await fs.writeFile(f, crypto.randomBytes(24 * 1024 * 1024));
      files.push(f);
    }
    const log = path.join(dir, "typescript.log");
    const ci = { ...env, SF_URL: t.url, SF_TOKEN: user.token, TERM: "xterm-256color" };
    delete (ci as Record<string, string | undefined>).NO_COLOR;
    delete (ci as Record<string, string | undefined>).CI;
    const cmd = `stty cols 100 rows 40; exec ${process.execPath} ${BIN} send ${files.join(" ")} --to cfo@acme.com`;
    expect(await inPty(cmd, log, ci)).toBe(0);
    let raw = await fs.readFile(log, "utf8");
    raw = raw.replace(/^Script started[^\n]*\n/, "").replace(/\n?Script done[^\n]*\n?$/, "");

    // It rendered: a frame with a line per file in flight and a total with bytes, percent, rate.
    expect(raw).toMatch(/part-\d\.bin +[█░]{10} +\d+%/);
    expect(raw).toMatch(/total {2}\d\/3 files {2}[\d.]+ \w?i?B \/ 72\.0 MiB {2}\d+% {2}[\d.]+ \w*B\/s/);
    expect(raw).toContain("\x1b[?25l"); // cursor hidden while drawing…
    // …and gone: the screen holds only the summary, the package line, the email's state and the link.
    const lines = screen(raw);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^✔ Sent 3 files \(72\.0 MiB\) in [\d.]+ m?s, /);
    expect(lines[1]).toMatch(/^Package [0-9a-f-]{36} for cfo@acme\.com/);
    expect(lines[2]).toMatch(/^Email to cfo@acme\.com (queued|sent)\.$/);
    expect(lines[3]).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
    expect(raw.lastIndexOf("\x1b[?25h")).toBeGreaterThan(raw.lastIndexOf("\x1b[?25l")); // cursor back
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("NO_COLOR: no colour codes even on a terminal", async () => {
    const dir = await tempDir("sf-tty-");
    const f = path.join(dir, "x.bin");
    await fs.writeFile(f, crypto.randomBytes(4 * 1024 * 1024));
    const log = path.join(dir, "typescript.log");
    const ci = { ...env, SF_URL: t.url, SF_TOKEN: user.token, TERM: "xterm-256color", NO_COLOR: "1" };
    expect(await inPty(`stty cols 100 rows 40; exec ${process.execPath} ${BIN} send ${f} --to cfo@acme.com`, log, ci)).toBe(0);
    const raw = await fs.readFile(log, "utf8");
    expect(raw).not.toMatch(/\x1b\[\d+m/);
    expect(screen(raw.replace(/^Script started[^\n]*\n/, "").replace(/\n?Script done[^\n]*\n?$/, ""))[0]).toMatch(/^✔ Sent 1 file/);
    await fs.rm(dir, { recursive: true, force: true });
  });
});
