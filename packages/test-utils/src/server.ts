import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import pino, { type DestinationStream } from "pino";
// The server's sources by path, not through a dependency: the server's own tests use this package,
// so declaring one would make a workspace cycle (server → test-utils → server).
import { loadConfig } from "../../server/src/config.js";
import { startServer, type RunningServer } from "../../server/src/server.js";
import { createUser } from "../../server/src/services/users.js";
import { createToken } from "../../server/src/services/tokens.js";
import { grantedScopes } from "../../server/src/policies/index.js";
import type { Role } from "../../server/src/db/users.js";
import type { User } from "../../server/src/services/users.js";
import type { S3Server } from "./s3.js";

export type DbKind = "sqlite" | "postgres";

/**
 * Both databases, always. A developer may narrow it with SF_TEST_DATABASES=sqlite; CI never does,
 * and an unreachable PostgreSQL then fails the run instead of skipping it.
 */
export const DATABASES: DbKind[] = (process.env.SF_TEST_DATABASES ?? "sqlite,postgres")
  .split(",")
  .map((s) => s.trim())
  .filter((s): s is DbKind => s === "sqlite" || s === "postgres");

const PG_ADMIN_URL = process.env.SF_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/**
 * A clock the test moves by hand (for expiry), starting now or `at` a fixed instant. A `ticking`
 * clock also runs with real time (for background work such as webhook retries), still movable by
 * hand. It drives only what the server decides (expiry, dates on pages and in mail): a real
 * browser, cookie jar or certificate check in the same test keeps the real time, so a fixed `at`
 * must never be compared with the real date.
 */
export class TestClock {
  private t: number;
  private readonly started = Date.now();
  constructor(private readonly opts: { ticking?: boolean; at?: string | number } = {}) {
    this.t = opts.at === undefined ? Date.now() : typeof opts.at === "number" ? opts.at : Date.parse(opts.at);
    if (Number.isNaN(this.t)) throw new Error(`TestClock: not a date: ${String(opts.at)}`);
  }
  now = (): Date => new Date(this.t + (this.opts.ticking ? Date.now() - this.started : 0));
  advance(ms: number): void {
    this.t += ms;
  }
  advanceDays(days: number): void {
    this.advance(days * 86_400_000);
  }
}

export interface TestServer {
  url: string;
  api: string;
  kind: DbKind;
  dataDir: string;
  running: RunningServer;
  clock: TestClock;
  /** With S3 storage: the bucket's server and this server's key prefix in it. */
  s3?: { server: S3Server; prefix: string };
  /** fetch against `${api}${path}` with an optional bearer token. */
  fetch(pathname: string, init?: RequestInit & { token?: string; json?: unknown }): Promise<Response>;
  /** A user straight through the service layer, with a fresh API token. */
  createUser(opts?: { role?: Role; email?: string; password?: string }): Promise<{ user: User; token: string; password: string }>;
  close(): Promise<void>;
}

/** fetch against `${api}${pathname}` with an optional bearer token and JSON body. */
export function apiFetch(api: string, pathname: string, init: RequestInit & { token?: string; json?: unknown } = {}): Promise<Response> {
  const { token, json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  if (json !== undefined) {
    headers.set("Content-Type", "application/json");
    rest.body = JSON.stringify(json);
  }
  return fetch(`${api}${pathname}`, { ...rest, headers });
}

export async function createPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `sf_test_${crypto.randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is required for the test suite and is unreachable at ${PG_ADMIN_URL} (${(err as Error).message}). ` +
        "Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    );
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Starts the real server on an ephemeral loopback port with a fresh database and data dir. */
export async function startTestServer(
  kind: DbKind,
  opts: {
    env?: Record<string, string>;
    clock?: TestClock;
    /** Capture the server's log: an info-level pino logger writing into this stream. */
    logStream?: DestinationStream;
    /** Shorter HTTP timeouts, to watch them work. */
    timeouts?: { headersMs?: number; checkIntervalMs?: number };
    /** Run the webhook delivery worker in the background (default off: tests call deliverDue). */
    webhooks?: boolean;
    /** Run the mail worker in the background (default on: mail leaves as in production). */
    mail?: boolean;
    /** Use this PostgreSQL database (shared with another test server) instead of a fresh one. */
    databaseUrl?: string;
    /** Use this data dir (and its SQLite database), kept on close: a restart of an earlier server. */
    dataDir?: string;
    /**
     * Store files in this S3-compatible server (s3.ts here) instead of on local disk, under
     * `prefix` (a fresh one by default), with presigned downloads if asked.
     */
    s3?: { server: S3Server; prefix?: string; presign?: boolean; presignSeconds?: number };
  } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), "sf-test-")));
  const pgDb = kind === "postgres" && !opts.databaseUrl ? await createPgDatabase() : undefined;
  const clock = opts.clock ?? new TestClock();
  const s3Env = opts.s3 ? opts.s3.server.env(opts.s3) : undefined;
  const config = loadConfig({
    SF_PORT: "0",
    SF_BIND: "127.0.0.1",
    SF_DATA_DIR: dataDir,
    SF_LOG_LEVEL: "silent",
    ...(pgDb ? { SF_DATABASE_URL: pgDb.url } : {}),
    ...(opts.databaseUrl ? { SF_DATABASE_URL: opts.databaseUrl } : {}),
    ...s3Env,
    ...opts.env,
  });
  const running = await startServer(config, {
    logger: opts.logStream ? pino({ level: "info" }, opts.logStream) : pino({ level: process.env.SF_TEST_LOG_LEVEL ?? "silent" }),
    clock: clock.now,
    validateResponses: true,
    // Tests run the sweeper themselves (sweepOnce) with their own clock.
    sweeper: false,
    webhookWorker: opts.webhooks ?? false,
    mailWorker: opts.mail ?? true,
    ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
  });
  const api = `${running.url}/api/v1`;

  const ts: TestServer = {
    url: running.url,
    api,
    kind,
    dataDir,
    running,
    clock,
    ...(opts.s3 && s3Env ? { s3: { server: opts.s3.server, prefix: s3Env.SF_S3_PREFIX! } } : {}),
    fetch: (pathname, init) => apiFetch(api, pathname, init),
    async createUser(o = {}) {
      const password = o.password ?? `pw-${crypto.randomBytes(8).toString("hex")}`;
      const email = o.email ?? `user-${crypto.randomBytes(5).toString("hex")}@example.com`;
      const user = await createUser(running.services, { email, name: email.split("@")[0]!, password, role: o.role ?? "user" });
      // As the account itself (a signed-in session): a token with every scope of the user's role.
      const self = { kind: "session", userId: user.id, role: user.role, scopes: grantedScopes(user.role, null) } as const;
      const { token } = await createToken(running.services, self, { name: "test" });
      return { user, token, password };
    },
    async close() {
      await running.close(1000);
      await pgDb?.drop();
      if (!opts.dataDir) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
  return ts;
}
