import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverProcess } from "@speedyfiles/test-utils/process";
import { createPgDatabase, DATABASES, type DbKind } from "@speedyfiles/test-utils/server";

const server = serverProcess;

describe("speedyfiles-server: invalid configuration", () => {
  it("refuses to start with one line naming every bad variable, exit code 2", async () => {
    const p = server([], { SF_PORT: "eighty", SF_LOG_LEVEL: "loud", SF_DATA_DIR: os.tmpdir() });
    expect(await p.code).toBe(2);
    const lines = p.stderr().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^speedyfiles-server: invalid configuration: .*SF_PORT.*SF_LOG_LEVEL/);
  });

  it("rejects an unknown command with usage, exit code 2", async () => {
    const p = server(["frobnicate"], {});
    expect(await p.code).toBe(2);
    expect(p.stderr()).toContain("usage: speedyfiles-server");
  });
});

describe.each(DATABASES)("speedyfiles-server process (%s)", (kind: DbKind) => {
  let dataDir: string;
  let env: Record<string, string>;
  let drop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-proc-"));
    env = { SF_DATA_DIR: dataDir, SF_PORT: "0", SF_LOG_LEVEL: "warn" };
    if (kind === "postgres") {
      const db = await createPgDatabase();
      env.SF_DATABASE_URL = db.url;
      drop = db.drop;
    }
  });
  afterAll(async () => {
    await drop?.();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it("migrate, create-admin from stdin, first start, login, then SIGTERM stops it cleanly", async () => {
    const m = server(["migrate"], env);
    expect(await m.code).toBe(0);
    expect(m.stderr()).toContain("migrations are up to date");

    const short = server(["create-admin", "--email", "ops@example.com"], env, "short\n");
    expect(await short.code).toBe(2);

    const c = server(["create-admin", "--email", "Ops@Example.com"], env, "a long enough password\n");
    expect(await c.code).toBe(0);
    expect(c.stdout()).toMatch(/created admin ops@example\.com/);

    // Users exist now, so no first-start account is made and no password is printed.
    const s = server([], env);
    const [, url] = await s.waitFor(/SpeedyFiles (http:\/\/127\.0\.0\.1:\d+)/);
    expect(s.stderr()).not.toContain("password:");
    const login = await fetch(`${url}/api/v1/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "ops@example.com", password: "a long enough password", name: "ops" }),
    });
    expect(login.status).toBe(201);
    const { token } = (await login.json()) as { token: string };
    expect(s.stdout() + s.stderr()).not.toContain(token);

    s.kill("SIGTERM");
    expect(await s.code).toBe(0);
    await expect(fetch(`${url}/api/v1/health`)).rejects.toThrow();
  });

  it("on an empty database the first start creates admin@localhost and prints its password once", async () => {
    const fresh = await fs.mkdtemp(path.join(os.tmpdir(), "sf-proc-first-"));
    const pg = kind === "postgres" ? await createPgDatabase() : undefined;
    const e = { SF_DATA_DIR: fresh, SF_PORT: "0", SF_LOG_LEVEL: "warn", ...(pg ? { SF_DATABASE_URL: pg.url } : {}) };
    try {
      const s = server([], e);
      const [, url] = await s.waitFor(/SpeedyFiles (http:\/\/127\.0\.0\.1:\d+)/);
      const [, password] = await s.waitFor(/password: (\S+)/);
      expect(s.stderr()).toContain("email:    admin@localhost");
      const login = await fetch(`${url}/api/v1/auth/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "admin@localhost", password, name: "first" }),
      });
      expect(login.status).toBe(201);
      s.kill("SIGINT");
      expect(await s.code).toBe(0);

      const again = server([], e);
      await again.waitFor(/SpeedyFiles http/);
      expect(again.stderr()).not.toContain("password:");
      again.kill("SIGTERM");
      expect(await again.code).toBe(0);
    } finally {
      await pg?.drop();
      await fs.rm(fresh, { recursive: true, force: true });
    }
  });
});
