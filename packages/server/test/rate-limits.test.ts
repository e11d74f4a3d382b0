import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDatabase, type Db, migrate, openDatabase } from "../src/db/knex.js";
import { decrementRateCounter, findRateCounter, incrementRateCounter } from "../src/db/rate-limits.js";
import { createPgDatabase, DATABASES } from "@speedyfiles/test-utils/server";

// The counters of db/rate-limits.ts on each database: a hit taken back goes back to the window
// that counted it, never to a window that started since.

describe.each(DATABASES)("rate counters (%s)", (kind) => {
  let db: Db;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    let url: string;
    if (kind === "postgres") {
      const pg = await createPgDatabase();
      url = pg.url;
      cleanup = pg.drop;
    } else {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-rate-limits-"));
      url = `sqlite://${path.join(dir, "sf.db")}`;
      cleanup = () => fs.rm(dir, { recursive: true, force: true });
    }
    db = openDatabase(url);
    await migrate(db);
  });
  afterAll(async () => {
    if (db) await closeDatabase(db);
    await cleanup?.();
  });

  it("a hit taken back within its window lowers that window's count", async () => {
    const t0 = Date.now();
    await incrementRateCounter(db, "same-window", t0, 1000);
    const counted = await incrementRateCounter(db, "same-window", t0 + 10, 1000);
    expect(counted.hits).toBe(2);
    await decrementRateCounter(db, "same-window", counted.resetAt);
    expect(await findRateCounter(db, "same-window", t0 + 20)).toEqual({ hits: 1, resetAt: t0 + 1000 });
  });

  it("a hit counted in a window that has passed is not taken off the window that started since", async () => {
    const t0 = Date.now();
    const counted = await incrementRateCounter(db, "straddle", t0, 1000);
    expect(counted).toEqual({ hits: 1, resetAt: t0 + 1000 });
    // While the check of that hit ran, its window passed and another request opened a new one.
    const fresh = await incrementRateCounter(db, "straddle", t0 + 1500, 1000);
    expect(fresh).toEqual({ hits: 1, resetAt: t0 + 2500 });
    await decrementRateCounter(db, "straddle", counted.resetAt);
    expect(await findRateCounter(db, "straddle", t0 + 1600)).toEqual({ hits: 1, resetAt: t0 + 2500 });
  });
});
