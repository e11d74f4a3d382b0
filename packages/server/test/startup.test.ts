import crypto from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { closedPort, serverProcess } from "@speedyfiles/test-utils/process";
import { createPgDatabase, DATABASES, type DbKind } from "@speedyfiles/test-utils/server";

// Known when the cases are listed: a folder holding a regular file, and a port nothing listens on.
const dataDir = mkdtempSync(path.join(os.tmpdir(), "sf-nodb-"));
const aFile = path.join(dataDir, "not-a-directory");
writeFileSync(aFile, "x");
const port = await closedPort();

describe("speedyfiles-server with a database it cannot use", () => {
  afterAll(async () => {
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  const PASSWORD = "Hunter2-Very-Secret";
  const cases: [label: string, url: string, names: RegExp, reason: RegExp, secrets: string[]][] = [
    [
      "PostgreSQL on a closed port (password in the URL)",
      `postgres://sf_user:${PASSWORD}@127.0.0.1:${port}/speedyfiles`,
      new RegExp(`postgres://sf_user(:\\*+)?@127\\.0\\.0\\.1:${port}/speedyfiles`),
      /refused/i,
      [PASSWORD],
    ],
    [
      "PostgreSQL on a host that does not exist",
      `postgresql://ops:${PASSWORD}-2@db.no-such-host.invalid:5432/sf`,
      /postgresql:\/\/ops(:\*+)?@db\.no-such-host\.invalid:5432\/sf/,
      /not found|ENOTFOUND|EAI_AGAIN/i,
      [`${PASSWORD}-2`],
    ],
    [
      "a PostgreSQL database that does not exist",
      `postgres://postgres:${PASSWORD}-3@127.0.0.1:5432/sf_missing_${crypto.randomBytes(4).toString("hex")}`,
      /postgres:\/\/postgres(:\*+)?@127\.0\.0\.1:5432\/sf_missing_[0-9a-f]{8}/,
      /does not exist/i,
      [`${PASSWORD}-3`],
    ],
    [
      "a password given as a query parameter, with characters that need encoding",
      `postgres://sf@127.0.0.1:${port}/sf?sslmode=disable&password=${encodeURIComponent("Qu3ry/Secret@#1")}`,
      new RegExp(`postgres://sf@127\\.0\\.0\\.1:${port}/sf`),
      /refused/i,
      ["Qu3ry/Secret@#1", encodeURIComponent("Qu3ry/Secret@#1")],
    ],
    [
      "a password with a raw / and # that a URL parser splits (the driver would take part of it for the host)",
      `postgres://sf:Sl4sh/Hash#Pw@127.0.0.1:${port}/sf`,
      // Not read as written: the whole user part is hidden, not only what looks like the password.
      new RegExp(`postgres://\\*\\*\\*@127\\.0\\.0\\.1:${port}/sf`),
      /percent-encode/i,
      ["Sl4sh", "Hash"],
    ],
    [
      "an SQLite file under a regular file",
      `sqlite://${aFile}/sub/sf.db`,
      new RegExp(`sqlite://${aFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/sub/sf\\.db`),
      /not a directory|ENOTDIR/i,
      [],
    ],
    ["an SQLite path that is a directory", `sqlite://${dataDir}`, new RegExp(`sqlite://${dataDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`), /unable to open|directory/i, []],
  ];

  describe.each(["serve", "migrate"])("%s", (command) => {
    it.each(cases)("%s: one line naming the database and the reason, exit 1, never the password", async (label, url, names, reason, secrets) => {
      const started = Date.now();
      const p = serverProcess([command], { SF_DATA_DIR: dataDir, SF_PORT: "0", SF_LOG_LEVEL: "info", SF_DATABASE_URL: url });
      const code = await p.code;
      const all = p.stdout() + p.stderr();
      const context = `${label}\n--- stdout:\n${p.stdout()}\n--- stderr:\n${p.stderr()}`;
      expect(code, context).toBe(1);
      expect(Date.now() - started, context).toBeLessThan(20_000);
      for (const s of secrets) expect(all.includes(s), `${label}: the password is printed`).toBe(false);
      // No stack trace, no knex noise: exactly one line, on stderr.
      expect(p.stdout(), context).toBe("");
      const lines = p.stderr().trimEnd().split("\n");
      expect(lines, context).toHaveLength(1);
      expect(lines[0], context).toMatch(/^speedyfiles-server: /);
      expect(lines[0], context).toMatch(/database/i);
      expect(lines[0], context).toMatch(names);
      expect(lines[0], context).toMatch(reason);
      expect(all, context).not.toMatch(/^\s+at /m);
    });
  });
});

describe.each(DATABASES)("speedyfiles-server is healthy only when ready (%s)", (kind: DbKind) => {
  // A script that waits for /health and then logs in must never see the 200 before the first
  // admin exists. Each start is a fresh database and data dir, so the admin is created each time.
  it.each([1, 2, 3])("start %i: the first 200 from /health is followed by a successful login", async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-ready-"));
    const pg = kind === "postgres" ? await createPgDatabase() : undefined;
    // A fixed port, so /health can be polled before the server says where it listens.
    const port = await closedPort();
    const email = "ops@example.com";
    const password = "ready-before-healthy";
    const p = serverProcess([], {
      SF_DATA_DIR: dataDir,
      SF_PORT: String(port),
      SF_LOG_LEVEL: "warn",
      SF_ADMIN_EMAIL: email,
      SF_ADMIN_PASSWORD: password,
      ...(pg ? { SF_DATABASE_URL: pg.url } : {}),
    });
    const base = `http://127.0.0.1:${port}/api/v1`;
    try {
      let exited = false;
      void p.code.then(() => (exited = true));
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (exited) throw new Error(`the server exited before it was healthy:\n${p.stderr()}`);
        if (Date.now() > deadline) throw new Error(`never healthy:\n${p.stderr()}`);
        const res = await fetch(`${base}/health`).catch(() => undefined);
        if (res?.status === 200) break;
        await res?.body?.cancel();
        await new Promise((r) => setTimeout(r, 2));
      }
      const login = await fetch(`${base}/auth/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email, password, name: "script" }),
      });
      expect(login.status, await login.clone().text()).toBe(201);
    } finally {
      p.kill("SIGTERM");
      await p.code;
      await pg?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("the first start's banner", () => {
  /** Starts a fresh server, returns what it printed once it listens, then stops it. */
  async function banner(env: Record<string, string>): Promise<{ text: string; dataDir: string }> {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-banner-"));
    const p = serverProcess([], { SF_DATA_DIR: dataDir, SF_PORT: "0", SF_LOG_LEVEL: "warn", SF_PUBLIC_URL: "http://files.example.test:8080", ...env });
    try {
      await p.waitFor(/API docs: /);
      // The banner is one write: wait until the process has nothing more to say for a moment.
      await new Promise((r) => setTimeout(r, 300));
      return { text: p.stderr(), dataDir };
    } finally {
      p.kill("SIGTERM");
      await p.code;
    }
  }

  it("names sf login with the URL and the admin's email, and where mail goes: the outbox folder without SMTP", async () => {
    const { text, dataDir } = await banner({});
    try {
      expect(text).toMatch(/password: \S{12,}/);
      expect(text).toContain("sf login --url http://files.example.test:8080 --email admin@localhost");
      expect(text).toContain(`Mail:     no SF_SMTP_URL: each email is written to ${path.join(dataDir, "outbox")}`);
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it("with SMTP, names its host and port, never its user or password", async () => {
    const { text, dataDir } = await banner({
      SF_SMTP_URL: "smtp://mailer-user:S3cret-Mail-Pw@mail.example.test:2525",
      SF_ADMIN_EMAIL: "ops@example.com",
      SF_ADMIN_PASSWORD: "a-given-password",
    });
    try {
      expect(text).toContain("Mail:     SMTP mail.example.test:2525");
      expect(text).not.toContain("S3cret-Mail-Pw");
      expect(text).not.toContain("mailer-user");
      expect(text).toContain("sf login --url http://files.example.test:8080 --email ops@example.com");
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
