import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgDatabase, DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startS3rver, type S3Server } from "@speedyfiles/test-utils/s3";
import { closedPort } from "@speedyfiles/test-utils/process";
import { SpeedyFiles, type Progress } from "../src/index.js";
import { tmpDir } from "./helpers/tmp.js";

const MiB = 1024 * 1024;
const draft = { title: "big", recipient_email: "cfo@acme.com", direction: "outbound" as const, ttl_days: 1 };

describe.each(DATABASES)("resumable uploads through the SDK, SF_STORAGE=s3 (%s)", (kind) => {
  let s3: S3Server;
  let dir: string;
  beforeAll(async () => {
    s3 = await startS3rver();
    dir = await tmpDir();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it("a tus upload through the SDK survives a server restart in the middle (on PostgreSQL onto another data dir): the pieces are in the bucket", async () => {
    const port = await closedPort();
    const pg = kind === "postgres" ? await createPgDatabase() : undefined;
    const dirs = [await fs.mkdtemp(path.join(os.tmpdir(), "sf-sdk-s3-a-")), await fs.mkdtemp(path.join(os.tmpdir(), "sf-sdk-s3-b-"))];
    const prefix = `sdk-${crypto.randomBytes(4).toString("hex")}/`;
    let starts = 0;
    // SQLite's database is in the data dir: the same one; PostgreSQL: a second machine's own.
    const start = () =>
      startTestServer(kind, {
        env: { SF_PORT: String(port) },
        s3: { server: s3, prefix },
        dataDir: pg ? dirs[starts++ % 2]! : dirs[0]!,
        ...(pg ? { databaseUrl: pg.url } : {}),
      });
    let t: TestServer = await start();
    try {
      const { token } = await t.createUser();
      const sf = new SpeedyFiles({ baseUrl: `http://127.0.0.1:${port}`, token, resumableThreshold: MiB, resumable: { chunkSize: 4 * MiB, retryDelayMs: 50 } });
      const pkg = await sf.packages.create(draft);
      const data = crypto.randomBytes(30 * MiB + 5);
      const file = path.join(dir, "s3.bin");
      await fs.writeFile(file, data);
      const events: Progress[] = [];
      let restarted: Promise<void> | undefined;
      const f = await sf.uploadFile(pkg.id, file, {
        onProgress: (p) => {
          events.push(p);
          if (!restarted && p.bytes > 12 * MiB) {
            restarted = (async () => {
              await t.running.close(0);
              t = await start();
            })();
          }
        },
      });
      await restarted;
      expect(f.sha256).toBe(crypto.createHash("sha256").update(data).digest("hex"));
      expect(f.size).toBe(data.length);
      // The restarted server found the bytes already sent in the bucket and rebuilt the hash from them.
      expect(t.running.services.uploads.stats.rebuiltBytes).toBeGreaterThan(0);
      const key = (await t.running.services.db("files").where({ id: f.id }).first()).storage_key as string;
      expect((await s3.getObject(`${prefix}${key}`)).equals(data)).toBe(true);
      expect(await s3.objects(`${prefix}tus/`)).toEqual([]);
    } finally {
      await t.close();
      await pg?.drop();
      for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
    }
  }, 120_000);
});
