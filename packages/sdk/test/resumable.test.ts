import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as undici from "undici";
import { beforeAll, describe, expect, it } from "vitest";
import { createPgDatabase, DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { closedPort } from "@speedyfiles/test-utils/process";
import { ResumableUploadError, SpeedyFiles, type Progress } from "../src/index.js";
import { tmpDir } from "./helpers/tmp.js";

const MiB = 1024 * 1024;
const draft = { title: "big", recipient_email: "cfo@acme.com", direction: "outbound" as const, ttl_days: 1 };

/** A file of random bytes (written a MiB at a time) and its SHA-256. */
async function randomFile(dir: string, name: string, size: number): Promise<{ file: string; sha256: string }> {
  const file = path.join(dir, name);
  const fh = await fs.open(file, "w");
  const hash = crypto.createHash("sha256");
  for (let i = 0; i < size; i += MiB) {
    const b = crypto.randomBytes(Math.min(MiB, size - i));
    hash.update(b);
    await fh.write(b);
  }
  await fh.close();
  return { file, sha256: hash.digest("hex") };
}

function checkMonotonic(events: Progress[], size: number) {
  for (let i = 1; i < events.length; i++) expect(events[i]!.bytes).toBeGreaterThanOrEqual(events[i - 1]!.bytes);
  expect(events.at(-1)!.bytes).toBe(size);
}

describe.each(DATABASES)("resumable uploads through the SDK (%s)", (kind) => {
  let dir: string;
  beforeAll(async () => {
    dir = await tmpDir();
  });

  it("small thresholds: a file over it goes through tus, one under it through multipart; link uploads too", async () => {
    const t = await startTestServer(kind);
    try {
      const { token } = await t.createUser();
      const sf = new SpeedyFiles({ baseUrl: t.url, token, resumableThreshold: 1 * MiB, resumable: { chunkSize: 512 * 1024 } });
      const pkg = await sf.packages.create(draft);
      const big = await randomFile(dir, "big.bin", 3 * MiB + 17);
      const events: Progress[] = [];
      const f = await sf.uploadFile(pkg.id, big.file, { onProgress: (p) => events.push(p) });
      expect(f.sha256).toBe(big.sha256);
      checkMonotonic(events, 3 * MiB + 17);
      // It went through tus: its upload is recorded, finished, with the file's id.
      const rows = await t.running.services.db("uploads").where({ package_id: pkg.id }).select("file_id");
      expect(rows).toEqual([{ file_id: f.id }]);
      const small = await sf.uploadFile(pkg.id, Buffer.alloc(1000, 1), { name: "small.bin" });
      expect(small.size).toBe(1000);

      const inbound = await sf.request({ from: "someone@acme.com" });
      const viaLink = await sf.links.upload(inbound.magic_link.split("/").pop()!, big.file, { name: "to-owner.bin", resumableThreshold: 1 * MiB, resumable: { chunkSize: MiB } });
      expect(viaLink.sha256).toBe(big.sha256);
    } finally {
      await t.close();
    }
  });

  it("by default one PATCH carries the whole file; chunkSize caps what one request carries", async () => {
    const t = await startTestServer(kind);
    try {
      const { token } = await t.createUser();
      // The PATCH bodies as they leave the client (what a proxy in between would see).
      const patches: number[] = [];
      class Counting extends undici.Agent {
        override dispatch(opts: undici.Dispatcher.DispatchOptions, handler: undici.Dispatcher.DispatchHandler): boolean {
          if (opts.method === "PATCH") patches.push(Number((opts.headers as Record<string, string>)["content-length"]));
          return super.dispatch(opts, handler);
        }
      }
      const dispatcher = new Counting();
      // Over the 64 MiB a request used to be capped at.
      const size = 64 * MiB + 3;
      const big = await randomFile(dir, "whole.bin", size);
      const sf = new SpeedyFiles({ baseUrl: t.url, token, resumableThreshold: MiB, dispatcher });
      const pkg = await sf.packages.create(draft);
      expect((await sf.uploadFile(pkg.id, big.file)).sha256).toBe(big.sha256);
      expect(patches).toEqual([size]);

      patches.length = 0;
      const capped = new SpeedyFiles({ baseUrl: t.url, token, resumableThreshold: MiB, dispatcher, resumable: { chunkSize: 32 * MiB } });
      expect((await capped.uploadFile(pkg.id, big.file, { name: "capped.bin" })).sha256).toBe(big.sha256);
      expect(patches).toEqual([32 * MiB, 32 * MiB, 3]);
      await dispatcher.close();
    } finally {
      await t.close();
    }
  });

  it("gives up after bounded retries with a typed error carrying the upload URL, and that URL resumes it", async () => {
    const port = await closedPort();
    const pg = kind === "postgres" ? await createPgDatabase() : undefined;
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-tus-giveup-"));
    const start = () => startTestServer(kind, { env: { SF_PORT: String(port) }, dataDir, ...(pg ? { databaseUrl: pg.url } : {}) });
    let t = await start();
    try {
      const { token } = await t.createUser();
      const sf = new SpeedyFiles({ baseUrl: `http://127.0.0.1:${port}`, token, resumableThreshold: MiB, resumable: { chunkSize: MiB, maxRetries: 2, retryDelayMs: 10 } });
      const pkg = await sf.packages.create(draft);
      const src = await randomFile(dir, "later.bin", 4 * MiB);
      // The server goes away after the second chunk, for longer than the client keeps trying.
      let err: unknown;
      let url: string | undefined;
      try {
        await sf.uploadFile(pkg.id, src.file, {
          resumable: { onUploadUrl: (u) => (url = u) },
          onProgress: (p) => {
            if (p.bytes >= 2 * MiB && t.running.server.listening) void t.running.close(0);
          },
        });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ResumableUploadError);
      expect((err as ResumableUploadError).uploadUrl).toBe(url);
      expect(url).toMatch(/\/api\/v1\/packages\/.+\/uploads\/[0-9a-f-]{36}$/);

      t = await start();
      const events: Progress[] = [];
      const file = await sf.uploadFile(pkg.id, src.file, { resumable: { uploadUrl: url! }, onProgress: (p) => events.push(p) });
      expect(file.sha256).toBe(src.sha256);
      // It went on from where the server was, not from 0, and said so.
      expect(events[0]!.resumedFrom).toBeGreaterThanOrEqual(MiB);
      expect(events[0]!.bytes).toBe(events[0]!.resumedFrom);
      checkMonotonic(events, 4 * MiB);
    } finally {
      await t.close();
      await pg?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it("completes a 300 MiB upload while the server is restarted in the middle, with no user action", async () => {
    const port = await closedPort();
    const pg = kind === "postgres" ? await createPgDatabase() : undefined;
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-tus-restart-"));
    const env = { SF_PORT: String(port) };
    const start = () => startTestServer(kind, { env, dataDir, ...(pg ? { databaseUrl: pg.url } : {}) });
    let t: TestServer = await start();
    try {
      const { token } = await t.createUser();
      const sf = new SpeedyFiles({ baseUrl: `http://127.0.0.1:${port}`, token });
      const pkg = await sf.packages.create(draft);
      const size = 300 * MiB;
      const src = await randomFile(dir, "300m.bin", size);
      const events: Progress[] = [];
      let restarted: Promise<void> | undefined;
      const file = await sf.uploadFile(pkg.id, src.file, {
        onProgress: (p) => {
          events.push(p);
          if (!restarted && p.bytes > 100 * MiB) {
            restarted = (async () => {
              await t.running.close(0);
              t = await start();
            })();
          }
        },
      });
      await restarted;
      expect(file.sha256).toBe(src.sha256);
      expect(file.size).toBe(size);
      checkMonotonic(events, size);
      // The restarted server rebuilt the hash from the bytes it had (no state survives a restart).
      expect(t.running.services.uploads.stats.rebuiltBytes).toBeGreaterThan(0);
      expect(t.running.services.uploads.stats.rebuiltBytes).toBeLessThan(size);
    } finally {
      await t.close();
      await pg?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
      await fs.rm(path.join(dir, "300m.bin"), { force: true });
    }
  }, 180_000);
});
