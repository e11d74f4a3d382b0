import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDatabase } from "../src/db/knex.js";
import { DbRateLimitStore } from "../src/http/rate-limit-store.js";
import { openMigratedDatabase } from "../src/server.js";
import { serverProcess, type Proc } from "@speedyfiles/test-utils/process";
import { startReceiver, type Receiver } from "@speedyfiles/test-utils/receiver";
import { apiFetch, createPgDatabase, DATABASES, type DbKind } from "@speedyfiles/test-utils/server";
import { until } from "@speedyfiles/test-utils/uploads";
import { WebClient } from "@speedyfiles/test-utils/web";
import type { Options } from "express-rate-limit";

const sha256 = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");

describe.each(DATABASES)("the shared rate-limit counters (%s)", (kind: DbKind) => {
  let dataDir: string;
  let drop: (() => Promise<void>) | undefined;
  let url: string;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-rl-"));
    if (kind === "postgres") {
      const db = await createPgDatabase();
      url = db.url;
      drop = db.drop;
    } else {
      url = `sqlite://${path.join(dataDir, "sf.db")}`;
    }
  });
  afterAll(async () => {
    await drop?.();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it("counts concurrent hits from two connections exactly, restarts the window when it passes, and stores no raw key", async () => {
    const one = await openMigratedDatabase(url);
    const two = await openMigratedDatabase(url);
    try {
      const a = new DbRateLimitStore(one, "login-account");
      const b = new DbRateLimitStore(two, "login-account");
      for (const s of [a, b]) s.init({ windowMs: 400 } as Options);
      const key = "account:cfo@acme.test";
      const hits = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).increment(key)));
      // Every increment saw its own count: none lost, none counted twice.
      expect(hits.map((h) => h.totalHits).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect((await b.get(key))?.totalHits).toBe(40);
      await a.decrement(key);
      expect((await b.get(key))?.totalHits).toBe(39);
      // Another limiter's counter for the same client is its own.
      const other = new DbRateLimitStore(one, "login-ip");
      other.init({ windowMs: 400 } as Options);
      expect((await other.increment(key)).totalHits).toBe(1);
      // Addresses and emails are not kept in the clear.
      expect(JSON.stringify(await one("rate_limits").select())).not.toContain("acme");
      await new Promise((r) => setTimeout(r, 450));
      expect(await a.get(key)).toBeUndefined();
      expect((await a.increment(key)).totalHits).toBe(1);
      await b.resetKey(key);
      expect(await a.get(key)).toBeUndefined();
    } finally {
      await closeDatabase(one);
      await closeDatabase(two);
    }
  });
});

/** A real `speedyfiles-server` process, started and ready. */
interface Server {
  proc: Proc;
  url: string;
  api: string;
  fetch(pathname: string, init?: RequestInit & { token?: string; json?: unknown }): Promise<Response>;
}

async function startProcess(env: Record<string, string>): Promise<Server> {
  const proc = serverProcess([], env);
  const [, url] = await proc.waitFor(/SpeedyFiles (http:\/\/127\.0\.0\.1:\d+)/, 30_000);
  const api = `${url!}/api/v1`;
  return {
    proc,
    url: url!,
    api,
    fetch: (pathname, init) => apiFetch(api, pathname, init),
  };
}

async function stopProcess(s: Server | undefined): Promise<void> {
  if (!s) return;
  s.proc.kill("SIGTERM");
  await s.proc.code;
}

describe("two server processes on one PostgreSQL database and one data dir", () => {
  let dataDir: string;
  let db: { url: string; drop: () => Promise<void> };
  let receiver: Receiver;
  let a: Server;
  let b: Server;
  const admin = { email: "admin@acme.test", password: "correct horse battery" };
  let token: string;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-two-"));
    db = await createPgDatabase();
    receiver = await startReceiver();
    const env = {
      SF_DATA_DIR: dataDir,
      SF_DATABASE_URL: db.url,
      SF_PORT: "0",
      SF_LOG_LEVEL: "warn",
      SF_ADMIN_EMAIL: admin.email,
      SF_ADMIN_PASSWORD: admin.password,
      SF_LOGIN_MAX_FAILURES_PER_ACCOUNT: "6",
      SF_LOGIN_MAX_FAILURES_PER_IP: "100",
      SF_LINK_MAX_FAILURES_PER_IP: "6",
      SF_SWEEP_INTERVAL_SECONDS: "1",
      SF_RETENTION_DAYS: "0",
      SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1",
      SF_WEBHOOK_POLL_MS: "100",
    };
    // Both at once, as an orchestrator starts them: both migrate and look for the first admin.
    [a, b] = await Promise.all([startProcess(env), startProcess(env)]);
    const res = await a.fetch("/auth/token", { method: "POST", json: { ...admin, name: "two" } });
    expect(res.status).toBe(201);
    token = ((await res.json()) as { token: string }).token;
  }, 90_000);
  afterAll(async () => {
    await Promise.all([stopProcess(a), stopProcess(b)]);
    await receiver?.close();
    await db?.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it("both started together, with one admin account between them", async () => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const { rows } = await c.query("select email from users");
      expect(rows).toEqual([{ email: admin.email }]);
    } finally {
      await c.end();
    }
    expect((await b.fetch("/me", { token })).status).toBe(200);
  });

  it("a file uploaded through one downloads through the other, byte for byte, by link and by its owner", async () => {
    const created = await a.fetch("/packages", { method: "POST", token, json: { title: "Q4", recipient_email: "cfo@acme.test", direction: "outbound", ttl_days: 7 } });
    expect(created.status, await created.clone().text()).toBe(201);
    const pkg = (await created.json()) as { id: string };
    const bytes = crypto.randomBytes(3 * 1024 * 1024 + 17);
    const form = new FormData();
    form.append("file", new Blob([new Uint8Array(bytes)]), "q4.bin");
    const up = await b.fetch(`/packages/${pkg.id}/files`, { method: "POST", token, body: form });
    expect(up.status, await up.clone().text()).toBe(201);
    const file = (await up.json()) as { id: string; sha256: string };
    expect(file.sha256).toBe(sha256(bytes));
    const fin = await a.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token });
    expect(fin.status).toBe(200);
    const secret = /\/l\/([A-Za-z0-9_-]{43})$/.exec(((await fin.json()) as { magic_link: string }).magic_link)![1]!;
    const viaLink = await fetch(`${b.api}/links/${secret}/files/${file.id}`);
    expect(viaLink.status).toBe(200);
    expect(sha256(Buffer.from(await viaLink.arrayBuffer()))).toBe(file.sha256);
    const viaOwner = await a.fetch(`/packages/${pkg.id}/files/${file.id}`, { token });
    expect(sha256(Buffer.from(await viaOwner.arrayBuffer()))).toBe(file.sha256);
    // Both processes count the same downloads.
    await until(async () => ((await (await b.fetch(`/packages/${pkg.id}`, { token })).json()) as { download_count: number }).download_count === 1, 5000, "the download counted");
  });

  it("failed link lookups spread over both processes hit the one limit", async () => {
    const guess = (s: Server) => fetch(`${s.api}/links/${crypto.randomBytes(32).toString("base64url").slice(0, 43)}`);
    for (let i = 0; i < 6; i++) expect((await guess(i % 2 ? a : b)).status).toBe(404);
    expect((await guess(a)).status).toBe(429);
    expect((await guess(b)).status).toBe(429);
  });

  it("a web session made on one works on the other, and signing out on the other ends it on both", async () => {
    const onA = new WebClient(a);
    expect((await onA.signIn(admin.email, "correct horse battery")).status).toBe(303);
    const onB = new WebClient(b);
    for (const [k, v] of onA.jar.cookies) onB.jar.cookies.set(k, v);
    const account = await onB.get("/account");
    expect(account.status).toBe(200);
    expect(await account.text()).toContain(admin.email);
    expect((await onB.api("/me")).status).toBe(200);
    const out = await onB.post("/logout", { _csrf: await onB.csrf() });
    expect(out.status).toBe(303);
    expect((await onA.get("/account")).status).toBe(303);
  });

  it("each expired package is expired, purged and announced once, though both sweepers run every second", async () => {
    const hook = await a.fetch("/webhooks", { method: "POST", token, json: { url: receiver.url, events: ["package.expired", "package.created"] } });
    expect(hook.status).toBe(201);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await (i % 2 ? a : b).fetch("/packages", {
        method: "POST",
        token,
        json: { title: `old ${i}`, recipient_email: "cfo@acme.test", direction: "outbound", ttl_days: 7 },
      });
      expect(res.status).toBe(201);
      const id = ((await res.json()) as { id: string }).id;
      const form = new FormData();
      form.append("file", new Blob([new Uint8Array(crypto.randomBytes(1000))]), "f.bin");
      expect((await a.fetch(`/packages/${id}/files`, { method: "POST", token, body: form })).status).toBe(201);
      expect((await b.fetch(`/packages/${id}/finalize`, { method: "POST", token })).status).toBe(200);
      ids.push(id);
    }
    // Their time has come (the clock of a real process cannot be moved: the expiry can).
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query("update packages set expires_at = '2020-01-01T00:00:00.000Z' where id = any($1)", [ids]);
      await until(
        async () => (await c.query("select count(*)::int as n from packages where id = any($1) and purged_at is not null", [ids])).rows[0].n === 12,
        15_000,
        "every package purged",
      );
    } finally {
      await c.end();
    }
    // Twelve created and twelve expired events, each delivered once: give a second delivery time to show up.
    await receiver.waitFor(24, 15_000);
    await new Promise((r) => setTimeout(r, 1500));
    const events = receiver.received.map((r) => JSON.parse(r.body) as { id: string; type: string; data: { package: { id: string } } });
    const expired = events.filter((e) => e.type === "package.expired").map((e) => e.data.package.id);
    expect(expired.sort()).toEqual([...ids].sort());
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(events.filter((e) => e.type === "package.created")).toHaveLength(12);
    // The bytes are gone from the shared data dir.
    for (const id of ids) expect((await a.fetch(`/packages/${id}`, { token })).status).toBe(200);
  });
  it("failed logins spread over both processes hit the one limit", async () => {
    const wrong = (s: Server) => s.fetch("/auth/token", { method: "POST", json: { email: admin.email, password: "not the password", name: "x" } });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await wrong(i % 2 ? b : a)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401]);
    // Three failures on each: in memory, each process would still allow three more.
    const limited = await wrong(a);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await b.fetch("/auth/token", { method: "POST", json: { ...admin, name: "right" } })).status).toBe(429);
  });
});

describe("SQLite: one server process", () => {
  it("a second process on the same database refuses to start with one clear line; after kill -9 of the first, a new one starts", async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-one-"));
    const env = { SF_DATA_DIR: dataDir, SF_PORT: "0", SF_LOG_LEVEL: "warn" };
    let first: Server | undefined;
    let third: Server | undefined;
    try {
      first = await startProcess(env);
      const second = serverProcess([], env);
      expect(await second.code).toBe(1);
      const lines = second.stderr().trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^speedyfiles-server: another SpeedyFiles server is already running on .*speedyfiles\.db.*PostgreSQL/);
      // The first one is untouched.
      expect((await fetch(`${first.api}/health`)).status).toBe(200);
      first.proc.kill("SIGKILL");
      await first.proc.code;
      first = undefined;
      third = await startProcess(env);
      expect((await fetch(`${third.api}/health`)).status).toBe(200);
    } finally {
      await stopProcess(first);
      await stopProcess(third);
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
