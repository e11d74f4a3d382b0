import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { closeDatabase, migrate, openDatabase } from "../src/db/knex.js";
import { migrations } from "../src/db/migrations/index.js";
import { createPgDatabase, DATABASES } from "@speedyfiles/test-utils/server";

const FOLDER = fileURLToPath(new URL("../src/db/migrations/", import.meta.url));
const names = migrations.map(([name]) => name);

describe("migrations", () => {
  it("are listed in run order: sorted by name, each name once", () => {
    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^\d{14}_[a-z0-9_]+$/);
  });

  it("are the files of db/migrations/, one each, none left out of the list", async () => {
    const files = (await fs.readdir(FOLDER))
      .filter((f) => /^\d{14}_.*\.ts$/.test(f))
      .map((f) => f.replace(/\.ts$/, ""))
      .sort();
    expect(files).toEqual(names);
  });

  for (const kind of DATABASES) {
    it(`leave exactly these names in knex_migrations (${kind})`, async () => {
      let url: string;
      let cleanup: () => Promise<void>;
      if (kind === "postgres") {
        const pg = await createPgDatabase();
        url = pg.url;
        cleanup = pg.drop;
      } else {
        const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-migrations-"));
        url = `sqlite://${path.join(dir, "sf.db")}`;
        cleanup = () => fs.rm(dir, { recursive: true, force: true });
      }
      const db = openDatabase(url);
      try {
        await migrate(db);
        await migrate(db); // a second run finds nothing to do
        const rows = (await db("knex_migrations").select("name").orderBy("id")) as { name: string }[];
        expect(rows.map((r) => r.name)).toEqual(names);
      } finally {
        await closeDatabase(db);
        await cleanup();
      }
    });
  }
});
