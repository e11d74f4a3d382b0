/**
 * Scale-of-data benchmark (part of `pnpm bench`; not a test). On SQLite and on PostgreSQL, one
 * user's requests are timed on a small database (the user's package of 10,000 files and a
 * handful of others), then again after 100,000 more packages with 1,000,000 files were added
 * (SF_BENCH_SCALE_PACKAGES, 10 files each), the row counts of a large instance:
 *   - GET /packages?page=1&per_page=100 and ?page=1000&per_page=100 (the last page when full),
 *   - GET /packages/{id} of the package with 10,000 files,
 *   - GET /links/{link}/archive of those 10,000 small files (time to the first byte and to the end).
 * Each time is the median of 5 requests. Rows are inserted straight into the database (this
 * measures reading at scale, not writing it). Target: full / small ≤ 2 for each.
 */
import crypto from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import type { Knex } from "knex";
import pg from "pg";
import { openDatabase } from "../src/db/knex.js";
import { envInt, f1, log, median, report, runBench, startOurs, type Ours } from "./lib.js";

const EXTRA_PACKAGES = envInt("SF_BENCH_SCALE_PACKAGES", 100_000);
const FILES_PER_EXTRA = 10;
const BIG_FILES = 10_000;
const PG_ADMIN = process.env.SF_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** GET with a token; resolves with the time to the first byte and to the end. */
function timedGet(url: string, token?: string): Promise<{ ttfb: number; total: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, agent: false }, (res) => {
      let ttfb = 0;
      let bytes = 0;
      res.on("data", (c: Buffer) => {
        if (bytes === 0) ttfb = performance.now() - t0;
        bytes += c.length;
      });
      res.on("end", () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: ${res.statusCode}`));
        else resolve({ ttfb, total: performance.now() - t0, bytes });
      });
      res.on("error", (err) => reject(new Error(`GET ${url}: ${err.message} after ${bytes} bytes`)));
    });
    req.on("error", (err) => reject(new Error(`GET ${url}: ${err.message}`)));
  });
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Inserts rows in batches inside one transaction. */
async function insertAll(db: Knex, table: string, rows: Iterable<Record<string, unknown>>, batch = 400): Promise<void> {
  await db.transaction(async (trx) => {
    let buf: Record<string, unknown>[] = [];
    for (const r of rows) {
      buf.push(r);
      if (buf.length === batch) {
        await trx(table).insert(buf);
        buf = [];
      }
    }
    if (buf.length) await trx(table).insert(buf);
  });
}

function* packages(owner: string, n: number, startMs: number, prefix: string) {
  for (let i = 0; i < n; i++) {
    yield {
      id: crypto.randomUUID(),
      owner_id: owner,
      title: `${prefix} ${i}`,
      recipient_email: `r${i}@example.com`,
      recipient_name: null,
      direction: "outbound",
      status: "active",
      ttl_days: 30,
      message: null,
      link_hash: crypto.randomBytes(32).toString("hex"),
      created_at: iso(startMs + i),
      finalized_at: iso(startMs + i),
      // Active for a month from now, whenever created (the sweeper has nothing to do).
      expires_at: iso(Date.now() + 30 * 86_400_000),
      revoked_at: null,
      completed_at: null,
      completed_file_count: 0,
      purged_at: null,
      file_count: FILES_PER_EXTRA,
      total_size: FILES_PER_EXTRA * 1024,
      download_count: 0,
    };
  }
}

function* files(packageIds: string[], perPackage: number, storageKey: (i: number) => string, startMs: number) {
  let n = 0;
  for (const p of packageIds) {
    for (let j = 0; j < perPackage; j++, n++) {
      const name = `dir${j % 10}/file-${j}.txt`;
      yield {
        id: crypto.randomUUID(),
        package_id: p,
        name,
        name_key: name,
        size: 1024,
        sha256: "0".repeat(64),
        content_type: "text/plain",
        storage_key: storageKey(n),
        created_at: iso(startMs + n),
      };
    }
  }
}

interface Times {
  page1: number;
  page1000: number;
  detail: number;
  archiveTtfb: number;
  archive: number;
}

async function measure(ours: Ours, bigId: string, secret: string): Promise<Times> {
  const t = { page1: [] as number[], page1000: [] as number[], detail: [] as number[], archiveTtfb: [] as number[], archive: [] as number[] };
  for (let i = 0; i < 6; i++) {
    const p1 = await timedGet(`${ours.api}/packages?page=1&per_page=100`, ours.token);
    const p1000 = await timedGet(`${ours.api}/packages?page=1000&per_page=100`, ours.token);
    const d = await timedGet(`${ours.api}/packages/${bigId}`, ours.token);
    const a = await timedGet(`${ours.api}/links/${secret}/archive`);
    if (i === 0) continue; // warm-up
    t.page1.push(p1.total);
    t.page1000.push(p1000.total);
    t.detail.push(d.total);
    t.archiveTtfb.push(a.ttfb);
    t.archive.push(a.total);
  }
  return { page1: median(t.page1), page1000: median(t.page1000), detail: median(t.detail), archiveTtfb: median(t.archiveTtfb), archive: median(t.archive) };
}

async function scale(kind: "SQLite" | "PostgreSQL", databaseUrl?: string): Promise<void> {
  const ours = await startOurs(`ours (scale, ${kind})`, databaseUrl ? { SF_DATABASE_URL: databaseUrl } : {});
  const db = openDatabase(databaseUrl ?? `sqlite://${path.join(ours.dataDir, "speedyfiles.db")}`);
  try {
    const me = (await ours.json<{ id: string }>("GET", "/me")).id;
    const now = Date.now();
    // The user's package of 10,000 small files, with real blobs (the archive reads them).
    const big = await ours.json<{ id: string }>("POST", "/packages", { title: "Big", recipient_email: "r@example.com", direction: "outbound", ttl_days: 30 });
    const blobDir = path.join(ours.dataDir, "blobs", "00");
    await fs.mkdir(blobDir, { recursive: true });
    const keys: string[] = [];
    const content = Buffer.alloc(1024, 97);
    for (let i = 0; i < BIG_FILES; i++) {
      const key = `00${crypto.randomUUID().slice(2)}`;
      keys.push(key);
      await fs.writeFile(path.join(blobDir, key), content);
    }
    await insertAll(
      db,
      "files",
      files([big.id], BIG_FILES, (i) => keys[i]!, now - 10_000_000),
    );
    await db("packages")
      .where({ id: big.id })
      .update({ file_count: BIG_FILES, total_size: BIG_FILES * 1024 });
    const fin = await ours.json<{ magic_link: string }>("POST", `/packages/${big.id}/finalize`);
    const secret = fin.magic_link.split("/l/")[1]!;
    await insertAll(db, "packages", packages(me, 20, now - 20_000_000, "small"));
    // Rows written straight into the database: their counters too.
    const recount = () =>
      db("users")
        .where({ id: me })
        .update({ package_count: db("packages").where({ owner_id: me }).count("*") });
    await recount();

    log(`  ${kind}: small database`);
    const small = await measure(ours, big.id, secret);

    let t = Date.now();
    const extra = [...packages(me, EXTRA_PACKAGES, now - 40_000_000_000, "extra")];
    await insertAll(db, "packages", extra);
    await insertAll(
      db,
      "files",
      files(
        extra.map((p) => p.id),
        FILES_PER_EXTRA,
        () => crypto.randomUUID(),
        now - 50_000_000_000,
      ),
      400,
    );
    await recount();
    // As autovacuum would after a bulk load: statistics, and the visibility map index-only scans need.
    if (kind === "PostgreSQL") await db.raw("vacuum analyze");
    // SQLite: fold the bulk load's write-ahead log into the database, as the server's own
    // checkpoints do over time, and gather statistics.
    else await db.raw("pragma wal_checkpoint(TRUNCATE)").then(() => db.raw("analyze"));
    log(`  ${kind}: added ${EXTRA_PACKAGES} packages and ${EXTRA_PACKAGES * FILES_PER_EXTRA} files in ${f1((Date.now() - t) / 1000)} s`);
    t = Date.now();
    const full = await measure(ours, big.id, secret);

    const row = (what: string, s: number, f: number) =>
      report({
        path: `${what}, ${kind}, ${EXTRA_PACKAGES.toLocaleString("en")} packages / ${(EXTRA_PACKAGES * FILES_PER_EXTRA).toLocaleString("en")} files`,
        ours: `${f1(f)} ms`,
        baseline: `${f1(s)} ms (small database)`,
        ratio: `${(f / s).toFixed(2)}×`,
        mustReach: "≤ 2×",
        goal: "≤ 2×",
        pass: f / s <= 2,
      });
    row("list page 1 (100 per page)", small.page1, full.page1);
    row("list page 1,000 (100 per page)", small.page1000, full.page1000);
    row("open a package of 10,000 files", small.detail, full.detail);
    row("archive of 10,000 files: first byte", small.archiveTtfb, full.archiveTtfb);
    row("archive of 10,000 files: whole", small.archive, full.archive);
  } finally {
    await db.destroy();
  }
}

runBench("scale bench", async () => {
  log(`scale bench: +${EXTRA_PACKAGES} packages, +${EXTRA_PACKAGES * FILES_PER_EXTRA} files`);
  await scale("SQLite");
  const name = `sf_bench_${crypto.randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const u = new URL(PG_ADMIN);
  u.pathname = `/${name}`;
  try {
    await scale("PostgreSQL", u.toString());
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`).catch(() => undefined);
    await admin.end();
  }
});
