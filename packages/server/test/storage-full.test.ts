import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { createPackage, filesUnder, uploadFile } from "@speedyfiles/test-utils/uploads";
import { requestFiles } from "@speedyfiles/test-utils/links";
import { expectError } from "@speedyfiles/test-utils/expect";

const run = promisify(execFile);

/** The size of the data dir's file system: far smaller than the file the test uploads. */
const DISK = 2 * 1024 * 1024;
const BIG = 4 * 1024 * 1024;
/** An answer later than this is not "prompt"; before the fix none came until the idle timeout. */
const PROMPT_MS = 5_000;

/**
 * A real full disk: a 2 MiB tmpfs mounted as SF_DATA_DIR (blobs and tmp must share one file
 * system, as the store renames between them). Needs root; a failed mount fails the test, it is
 * never skipped, so the scenario cannot silently stop being tested.
 */
async function mountSmallDisk(dir: string): Promise<void> {
  try {
    await run("mount", ["-t", "tmpfs", "-o", `size=${DISK}`, "tmpfs", dir]);
  } catch (err) {
    throw new Error(`storage-full tests need to mount a ${DISK}-byte tmpfs at ${dir} (run as root, with mount available): ` + `${(err as Error).message.trim()}`);
  }
}

/** fetch that gives up after `ms` instead of hanging until the server's idle timeout. */
async function timed(req: (signal: AbortSignal) => Promise<Response>, ms = PROMPT_MS * 2) {
  const started = Date.now();
  const res = await req(AbortSignal.timeout(ms));
  return { res, elapsed: Date.now() - started };
}

async function expectInsufficientStorage(res: Response): Promise<void> {
  const body = (await expectError(res, 507)) as { detail: string; code?: string };
  expect(body.code).toBe("insufficient_storage");
  expect(body.detail).toMatch(/space|storage/i);
}

describe.each(DATABASES)("uploads onto a full disk (%s)", (kind) => {
  let t: TestServer;
  let mnt: string;
  let mounted = false;
  let dbDir: string;
  let owner: Awaited<ReturnType<TestServer["createUser"]>>;

  beforeAll(async () => {
    mnt = await fs.mkdtemp(path.join(os.tmpdir(), "sf-full-"));
    dbDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-full-db-"));
    await mountSmallDisk(mnt);
    mounted = true;
    t = await startTestServer(kind, {
      env: {
        SF_DATA_DIR: mnt,
        // SQLite's file lives elsewhere: this is about the blob store running out of room.
        ...(kind === "sqlite" ? { SF_DATABASE_URL: `sqlite://${path.join(dbDir, "sf.db")}` } : {}),
      },
    });
    owner = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
    if (mounted) await run("umount", [mnt]);
    await fs.rm(mnt, { recursive: true, force: true });
    await fs.rm(dbDir, { recursive: true, force: true });
  });

  const leftovers = async () => ({ tmp: await filesUnder(path.join(mnt, "tmp")), blobs: await filesUnder(path.join(mnt, "blobs")) });

  async function expectHealthy(): Promise<void> {
    const res = await t.fetch("/health", { signal: AbortSignal.timeout(PROMPT_MS) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", storage: "ok" });
  }

  it("owner upload larger than the free space: 507 at once, no temp file, next upload works", async () => {
    const pkg = await createPackage(t, owner.token);
    const big = crypto.randomBytes(BIG);
    const { res, elapsed } = await timed((signal) => {
      const form = new FormData();
      form.append("file", new Blob([new Uint8Array(big)]), "big.bin");
      return t.fetch(`/packages/${pkg.id}/files`, { method: "POST", token: owner.token, body: form, signal });
    });
    await expectInsufficientStorage(res);
    expect(elapsed).toBeLessThan(PROMPT_MS);
    expect(await leftovers()).toEqual({ tmp: [], blobs: [] });

    await expectHealthy();
    // The refused upload's bytes are gone, so the space is free again.
    const small = await uploadFile(t, owner.token, pkg.id, "small.txt", "fits easily");
    expect(small.status).toBe(201);
    const list = await (await t.fetch(`/packages/${pkg.id}`, { token: owner.token })).json();
    expect(list.files.map((f: { name: string }) => f.name)).toEqual(["small.txt"]);
  });

  it("a disk already full: even a small upload gets 507, and succeeds once space is freed", async () => {
    const pkg = await createPackage(t, owner.token);
    // Fill the file system to the last byte (writing until ENOSPC).
    const filler = path.join(mnt, "filler");
    const fh = await fs.open(filler, "w");
    try {
      const chunk = Buffer.alloc(64 * 1024, 1);
      for (;;) await fh.write(chunk);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe("ENOSPC");
    } finally {
      await fh.close();
    }
    try {
      const { res, elapsed } = await timed((signal) => {
        const form = new FormData();
        form.append("file", new Blob([new Uint8Array(crypto.randomBytes(256 * 1024))]), "quarter.bin");
        return t.fetch(`/packages/${pkg.id}/files`, { method: "POST", token: owner.token, body: form, signal });
      });
      await expectInsufficientStorage(res);
      expect(elapsed).toBeLessThan(PROMPT_MS);
      expect((await leftovers()).tmp).toEqual([]);
      await expectHealthy();
    } finally {
      await fs.rm(filler);
    }
    const after = await uploadFile(t, owner.token, pkg.id, "quarter.bin", crypto.randomBytes(256 * 1024));
    expect(after.status).toBe(201);
  });

  it("inbound-link upload larger than the free space: 507 at once, no temp file, next upload works", async () => {
    const link = await requestFiles(t, owner.token);
    const before = await leftovers();
    const { res, elapsed } = await timed((signal) => {
      const form = new FormData();
      form.append("file", new Blob([new Uint8Array(crypto.randomBytes(BIG))]), "scan.bin");
      return fetch(`${link.api}/files`, { method: "POST", body: form, signal });
    });
    await expectInsufficientStorage(res);
    expect(elapsed).toBeLessThan(PROMPT_MS);
    expect(await leftovers()).toEqual(before);
    expect(before.tmp).toEqual([]);

    await expectHealthy();
    const form = new FormData();
    form.append("file", new Blob(["the signed form"]), "form.txt");
    const ok = await fetch(`${link.api}/files`, { method: "POST", body: form, signal: AbortSignal.timeout(PROMPT_MS) });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ name: "form.txt", size: 15 });
  });
});
