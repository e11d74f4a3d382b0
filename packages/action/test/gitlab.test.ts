import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { REPO } from "./helpers.js";

/** The template's script block (`script: - |`), as the GitLab runner hands it to the shell. */
async function templateScript(): Promise<{ script: string; variables: Record<string, string> }> {
  const yml = await fs.readFile(path.join(REPO, "ci/gitlab/speedyfiles.yml"), "utf8");
  const lines = yml.split("\n");
  const start = lines.indexOf("    - |");
  const body: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l !== "" && !l.startsWith("      ")) break;
    body.push(l.slice(6));
  }
  const variables: Record<string, string> = {};
  for (const m of yml.matchAll(/^    (SF_[A-Z_]+): "?([^"\n]*)"?$/gm)) variables[m[1]!] = m[2]!;
  return { script: body.join("\n"), variables };
}

/**
 * Runs the template's script with `sh` as a GitLab job would, in a project directory, with an
 * `npx` on PATH that runs this checkout's built `sf` (what `npx -y @speedyfiles/cli@0` would run).
 */
async function runJob(vars: Record<string, string>, project: string): Promise<{ code: number | null; out: string; env: string }> {
  const { script, variables } = await templateScript();
  const bin = await fs.mkdtemp(path.join(os.tmpdir(), "sf-gitlab-bin-"));
  const sfBin = path.join(REPO, "packages/cli/dist/bin.js");
  await fs.writeFile(path.join(bin, "npx"), `#!/bin/sh\n[ "$1" = "-y" ] && shift\nshift\nexec "${process.execPath}" "${sfBin}" "$@"\n`, { mode: 0o755 });
  await fs.symlink(process.execPath, path.join(bin, "node"));
  const env: Record<string, string> = {
    PATH: `${bin}:/usr/bin:/bin`,
    HOME: project,
    CI: "true",
    GITLAB_CI: "true",
    CI_PROJECT_DIR: project,
    ...variables,
    SF_AUDIENCE: vars.SF_URL ?? "",
    ...vars,
  };
  await fs.rm(path.join(project, "speedyfiles.env"), { force: true });
  const child = spawn("/bin/sh", ["-c", script], { cwd: project, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
  child.stderr.on("data", (c: Buffer) => (out += c.toString("utf8")));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const dotenv = await fs.readFile(path.join(project, "speedyfiles.env"), "utf8").catch(() => "");
  await fs.rm(bin, { recursive: true, force: true });
  return { code, out, env: dotenv };
}

describe.each(DATABASES)("the GitLab CI template against the real server (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let project: string;

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url } });
    project = await fs.mkdtemp(path.join(os.tmpdir(), "sf-gitlab-project-"));
    await fs.mkdir(path.join(project, "build/css"), { recursive: true });
    await fs.writeFile(path.join(project, "build/index.html"), "<p>hi</p>\n");
    await fs.writeFile(path.join(project, "build/css/site.css"), "p{}\n");
    await fs.writeFile(path.join(project, "app-1.zip"), "zip");
    await fs.writeFile(path.join(project, "app-1.tgz"), "tgz");
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    await fs.rm(project, { recursive: true, force: true });
  });

  it("sends a folder and globs with a token; the dotenv report has the package and files, not the link", async () => {
    const u = await t.createUser();
    const a = `a-${crypto.randomBytes(4).toString("hex")}@example.com`;
    const b = `b-${crypto.randomBytes(4).toString("hex")}@example.com`;
    const r = await runJob({ SF_URL: t.url, SF_TOKEN: u.token, SF_PATH: "build\napp-1.*", SF_TO: `${a},${b}`, SF_TITLE: "Build 7", SF_TTL_DAYS: "2" }, project);
    expect(r.code, r.out).toBe(0);
    const vars = Object.fromEntries(
      r.env
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(Object.keys(vars).sort()).toEqual(["SF_FILES", "SF_PACKAGE_ID"]);
    const files = JSON.parse(vars.SF_FILES!) as { name: string; size: number; sha256: string }[];
    expect(files.map((f) => f.name).sort()).toEqual(["app-1.tgz", "app-1.zip", "build/css/site.css", "build/index.html"]);
    expect(files.find((f) => f.name === "app-1.zip")).toMatchObject({ size: 3, sha256: crypto.createHash("sha256").update("zip").digest("hex") });
    expect(r.out).toContain(`Sent "Build 7" (4 file(s)`);

    const mail = await smtp.waitForMail((m) => m.envelope.to.includes(a));
    await smtp.waitForMail((m) => m.envelope.to.includes(b));
    const link = /https?:\/\/\S+\/l\/[A-Za-z0-9_-]+/.exec(mail.parsed.text ?? "")![0];
    expect(r.out).not.toContain("/l/");
    expect(r.env).not.toContain(link);
    const pkg = (await (await t.fetch(`/packages/${vars.SF_PACKAGE_ID}`, { token: u.token })).json()) as { status: string };
    expect(pkg.status).toBe("active");
  });

  it("SF_REVEAL_LINK: true prints the link and adds SF_LINK", async () => {
    const u = await t.createUser();
    const r = await runJob({ SF_URL: t.url, SF_TOKEN: u.token, SF_PATH: "app-1.zip", SF_TO: "reveal@example.com", SF_REVEAL_LINK: "true" }, project);
    expect(r.code, r.out).toBe(0);
    const link = /^SF_LINK=(.+)$/m.exec(r.env)?.[1];
    expect(link).toMatch(/\/l\/[A-Za-z0-9_-]{20,}$/);
    expect(r.out).toContain(`Link: ${link}`);
  });

  it("fails with one clear line without a token, and exits non-zero on a bad one", async () => {
    const none = await runJob({ SF_URL: t.url, SF_PATH: "build", SF_TO: "qa@example.com" }, project);
    expect(none.code).toBe(1);
    expect(none.out).toContain("speedyfiles: no SF_TOKEN and no SF_ID_TOKEN");
    const bad = await runJob({ SF_URL: t.url, SF_TOKEN: `sf_${"y".repeat(43)}`, SF_PATH: "build", SF_TO: "qa@example.com" }, project);
    expect(bad.code).not.toBe(0);
    expect(bad.env).toBe("");
  });
});
