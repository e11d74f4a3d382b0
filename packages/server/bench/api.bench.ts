/**
 * API benchmark (part of `pnpm bench`; not a test): `wrk -t2 -c50 -d6s --latency` on
 * GET /api/v1/me with a bearer token,
 *   - SQLite: ours vs ../../shared/bench/api-baseline.mjs (Express + SHA-256 + one prepared
 *     better-sqlite3 lookup),
 *   - PostgreSQL: ours vs bench/api-baseline-pg.mjs (the same, with one prepared pg lookup),
 * a 3 s warm-up each, then SF_BENCH_ROUNDS (default 3) alternating runs; medians of req/s and p99.
 */
import crypto from "node:crypto";
import path from "node:path";
import pg from "pg";
import { listening, freePort, log, median, report, ROOT_DIR, ROUNDS, run, runBench, SERVER_DIR, SHARED_BENCH, startChild, startOurs } from "./lib.js";

const PG_ADMIN = process.env.SF_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

interface Wrk {
  rps: number;
  p99ms: number;
}

function parseMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === "us" ? n / 1000 : unit === "s" ? n * 1000 : n;
}

async function wrk(url: string, token: string, seconds: number): Promise<Wrk> {
  const r = await run("wrk", ["-t2", "-c50", `-d${seconds}s`, "--latency", "-H", `Authorization: Bearer ${token}`, url]);
  if (r.code !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const p = /\s99%\s+([\d.]+)(us|ms|s)/.exec(r.stdout);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout);
  if (non2xx) throw new Error(`wrk saw ${non2xx[1]} error answers from ${url}`);
  return { rps, p99ms: p ? parseMs(p[1]!, p[2]!) : NaN };
}

async function pgDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `sf_bench_${crypto.randomBytes(5).toString("hex")}`;
  const c = new pg.Client({ connectionString: PG_ADMIN });
  await c.connect();
  await c.query(`create database ${name}`);
  await c.end();
  const u = new URL(PG_ADMIN);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const d = new pg.Client({ connectionString: PG_ADMIN });
      await d.connect();
      await d.query(`drop database if exists ${name} with (force)`);
      await d.end();
    },
  };
}

async function compare(kind: "SQLite" | "PostgreSQL", oursUrl: string, oursToken: string, baseUrl: string, baseToken: string): Promise<void> {
  await wrk(oursUrl, oursToken, 3);
  await wrk(baseUrl, baseToken, 3);
  const ours: Wrk[] = [];
  const base: Wrk[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 ? ["ours", "base"] : ["base", "ours"];
    for (const who of order) {
      const w = who === "ours" ? await wrk(oursUrl, oursToken, 6) : await wrk(baseUrl, baseToken, 6);
      (who === "ours" ? ours : base).push(w);
      log(`  ${kind} round ${round} ${who.padEnd(4)} ${w.rps.toFixed(0)} req/s, p99 ${w.p99ms.toFixed(1)} ms`);
    }
  }
  const rps = { ours: median(ours.map((w) => w.rps)), base: median(base.map((w) => w.rps)) };
  const p99 = { ours: median(ours.map((w) => w.p99ms)), base: median(base.map((w) => w.p99ms)) };
  const ratio = rps.ours / rps.base;
  const tail = p99.ours / p99.base;
  report({
    path: `GET /api/v1/me, wrk 50 connections, ${kind}`,
    ours: `${rps.ours.toFixed(0)} req/s, p99 ${p99.ours.toFixed(1)} ms`,
    baseline: `bare Express + SHA-256 + ${kind === "SQLite" ? "SQLite" : "pg"}: ${rps.base.toFixed(0)} req/s, p99 ${p99.base.toFixed(1)} ms`,
    ratio: `${ratio.toFixed(2)}, p99 ${tail.toFixed(1)}×`,
    mustReach: "≥ 0.5×, p99 ≤ 3×",
    goal: "≥ 0.8×",
    pass: ratio >= 0.5 && tail <= 3,
  });
}

runBench("api bench", async () => {
  log(`api bench: wrk -t2 -c50, ${ROUNDS} rounds`);
  // SQLite
  const ours = await startOurs("ours (api, SQLite)");
  const token = `sf_${crypto.randomBytes(32).toString("base64url")}`;
  const port = await freePort();
  await startChild("api-baseline.mjs", process.execPath, [path.join(SHARED_BENCH, "api-baseline.mjs"), ROOT_DIR, String(port), token], {
    ready: listening(port),
  });
  await compare("SQLite", `${ours.api}/me`, ours.token, `http://127.0.0.1:${port}/api/v1/me`, token);

  // PostgreSQL
  const [db1, db2] = await Promise.all([pgDatabase(), pgDatabase()]);
  try {
    const oursPg = await startOurs("ours (api, PostgreSQL)", { SF_DATABASE_URL: db1.url });
    const pgPort = await freePort();
    await startChild("api-baseline-pg.mjs", process.execPath, [path.join(SERVER_DIR, "bench/api-baseline-pg.mjs"), ROOT_DIR, String(pgPort), token, db2.url], {
      ready: listening(pgPort),
    });
    await compare("PostgreSQL", `${oursPg.api}/me`, oursPg.token, `http://127.0.0.1:${pgPort}/api/v1/me`, token);
  } finally {
    // The servers are stopped by runBench's cleanup; the databases after them.
    process.once("beforeExit", () => void Promise.all([db1.drop(), db2.drop()]).catch(() => undefined));
  }
});
