// What a new user tripped over in their first hour with `sf`: a flag that does not exist, hints
// that lose --profile, plurals, sizes, the speed of a resumed send, `sf` alone.
import fs from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { SpeedyFiles, type SendProgress } from "@speedyfiles/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { progressAdapter } from "../src/commands/send.js";
import { formatBytes } from "../src/output.js";
import { readStdinText } from "../src/prompt.js";
import { createView } from "../src/progress.js";
import { sf, tempDir } from "./helpers.js";

const TOKEN = `sf_${"Q".repeat(43)}`;
const MiB = 1024 * 1024;

describe("without a server", () => {
  let xdg: string;
  beforeAll(async () => {
    xdg = await tempDir("sf-first-");
  });
  afterAll(async () => {
    await fs.rm(xdg, { recursive: true, force: true });
  });

  it("`sf login --token`, with or without a value, names --with-token and SF_TOKEN, never echoes the token, exits 2", async () => {
    for (const argv of [
      ["login", "--token"],
      ["login", "--token", TOKEN],
      [`login`, `--token=${TOKEN}`],
      ["--token", TOKEN, "login"],
      ["whoami", "--token", TOKEN],
    ]) {
      const r = await sf(argv, { env: { XDG_CONFIG_HOME: xdg } });
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.stderr).toContain('echo "$TOKEN" | sf login --with-token');
      expect(r.stderr).toContain("SF_TOKEN");
      expect(r.stderr + r.stdout).not.toContain(TOKEN);
      expect(r.stderr).not.toContain("unknown option");
    }
    // The hint keeps the profile and URL the person gave.
    const r = await sf(["login", "--profile", "work", "--url", "http://127.0.0.1:9", "--token", TOKEN], { env: { XDG_CONFIG_HOME: xdg } });
    expect(r.stderr).toContain('echo "$TOKEN" | sf login --with-token --profile work --url http://127.0.0.1:9');
  });

  it("`sf` alone prints the help on stdout and exits 0", async () => {
    const r = await sf([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: sf /);
    expect(r.stdout).toContain("Exit codes:");
    expect(r.stderr).toBe("");
  });

  it("`sf --profile work whoami` not logged in: the hint keeps --profile (and a --url flag)", async () => {
    const a = await sf(["--profile", "work", "whoami"], { env: { XDG_CONFIG_HOME: xdg } });
    expect(a.code).toBe(3);
    expect(a.stderr).toContain("run `sf login --profile work`");
    const b = await sf(["whoami", "--profile", "my laptop", "--url", "http://127.0.0.1:9"], { env: { XDG_CONFIG_HOME: xdg } });
    expect(b.code).toBe(3);
    expect(b.stderr).toContain("run `sf login --profile 'my laptop' --url http://127.0.0.1:9`");
    // From SF_PROFILE: the environment keeps it, the hint needs no flag.
    const c = await sf(["whoami"], { env: { XDG_CONFIG_HOME: xdg, SF_PROFILE: "work" } });
    expect(c.stderr).toContain("run `sf login`");
  });

  it("sizes: one IEC format everywhere (binary units, one decimal below 100, none above; never 1024 of a unit)", async () => {
    expect([0, 512, 1024, 1536, 99.96 * 1024, 1024 * 1024 - 1, 10 * 1024 ** 3, 150 * MiB].map(formatBytes)).toEqual([
      "0 B",
      "512 B",
      "1.0 KiB",
      "1.5 KiB",
      "100 KiB",
      "1.0 MiB",
      "10.0 GiB",
      "150 MiB",
    ]);
    // The limit on a password read from stdin is a size too.
    const stdin = PassThrough.from([Buffer.alloc(70 * 1024, 97)]);
    await expect(readStdinText({ stdout: new PassThrough(), stderr: new PassThrough(), stdin, env: {} }, "--password-stdin")).rejects.toThrow(
      "--password-stdin: stdin is longer than 64.0 KiB",
    );
  });

  it("a resumed send: speed and ETA count only the bytes sent in this run", () => {
    // A terminal as ora drives one (nothing here reads what it draws: frame() is checked instead).
    const stderr = Object.assign(new PassThrough(), { isTTY: true, columns: 120, cursorTo: () => true, moveCursor: () => true, clearLine: () => true });
    stderr.resume();
    let now = 0;
    return createView({ stdout: new PassThrough(), stderr, env: {} }, "tty", { title: "t", verb: "sent", totalFiles: 2, totalBytes: 300 * MiB, now: () => now }).then((view) => {
      const frame = () => (view as unknown as { frame(): string }).frame();
      const onProgress = progressAdapter(
        view,
        () => undefined,
        () => undefined,
      );
      const ev = (e: Partial<SendProgress>) => onProgress({ file: "", fileBytes: 0, fileSize: 0, bytes: 0, totalBytes: 300 * MiB, phase: "upload", ...e });
      // As the SDK reports a resume: 100 MiB file already stored, 150 of the 200 MiB one.
      ev({ phase: "resumed", bytes: 250 * MiB });
      ev({ file: "a.bin", fileBytes: 100 * MiB, fileSize: 100 * MiB, bytes: 100 * MiB, phase: "done" });
      frame();
      ev({ file: "b.bin", fileBytes: 150 * MiB, fileSize: 200 * MiB, bytes: 250 * MiB });
      now = 1000;
      ev({ file: "b.bin", fileBytes: 160 * MiB, fileSize: 200 * MiB, bytes: 260 * MiB });
      const line = frame().split("\n").at(-1)!;
      view.fail();
      // 10 MiB in 1 s; 40 MiB to go at that pace.
      expect(line).toContain("10.0 MiB/s");
      expect(line).toContain("4 s left");
    });
  });
});

describe.each(DATABASES)("with a server (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let work: string;
  let owner: SpeedyFiles;
  let token: string;

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url } });
    work = await tempDir("sf-first-srv-");
    const u = await t.createUser();
    token = u.token;
    owner = new SpeedyFiles({ baseUrl: t.url, token });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('one file: "Uploaded 1 file", "Downloaded 1 file", "All 1 file" never appears', async () => {
    const file = path.join(work, "one.txt");
    await fs.writeFile(file, "one");
    const env = { SF_URL: t.url, SF_TOKEN: token, XDG_CONFIG_HOME: work, XDG_STATE_HOME: work };
    const req = await owner.request({ from: "sup@acme.test" });
    const up = await sf(["upload", req.magic_link.replace(/^https?:\/\/[^/]+/, t.url), file], { env });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(/^Uploaded 1 file \(/m);

    const sent = await sf(["send", file, "--to", "a@acme.test"], { env });
    expect(sent.code, sent.stderr).toBe(0);
    const link = sent.stdout.trim().replace(/^https?:\/\/[^/]+/, t.url);
    const out = path.join(work, "dl");
    const dl = await sf(["download", link, "-o", out], { env: {} });
    expect(dl.code, dl.stderr).toBe(0);
    expect(dl.stderr).toMatch(/^Downloaded 1 file \(/m);
    const again = await sf(["download", link, "-o", out], { env: {} });
    expect(again.stderr).toContain("The file of");
    expect(again.stderr).not.toMatch(/\b1 files\b/);
  });

  it("`sf upload <link> --done` with nothing new says so, not that an email failed", async () => {
    const req = await owner.request({ from: "sup2@acme.test" });
    const link = req.magic_link.replace(/^https?:\/\/[^/]+/, t.url);
    const file = path.join(work, "two.txt");
    await fs.writeFile(file, "two");
    const first = await sf(["upload", link, file, "--done"], { env: {} });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/you are done \(by email, 1 new file\)/);
    const second = await sf(["upload", link, "--done"], { env: {} });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toContain("could not be sent");
    expect(second.stderr).toContain("Nothing new since you last said you were done: no email sent.");
    const json = await sf(["upload", link, "--done", "--json"], { env: {} });
    expect(JSON.parse(json.stdout)).toMatchObject({ completed: true, new_files: 0, email_sent: false });
  });

  it("a 401 with a --profile: the hint keeps --profile", async () => {
    const xdg = await tempDir("sf-first-xdg-");
    const u = await t.createUser();
    const login = await sf(["login", "--url", t.url, "--profile", "work", "--with-token"], { env: { XDG_CONFIG_HOME: xdg }, stdin: u.token });
    expect(login.code, login.stderr).toBe(0);
    await new SpeedyFiles({ baseUrl: t.url, token: u.token }).tokens.list().then(async (list) => {
      for (const tk of list) await new SpeedyFiles({ baseUrl: t.url, token: u.token }).tokens.revoke(tk.id).catch(() => undefined);
    });
    const r = await sf(["--profile", "work", "whoami"], { env: { XDG_CONFIG_HOME: xdg } });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("run `sf login --profile work`");
  });
});
