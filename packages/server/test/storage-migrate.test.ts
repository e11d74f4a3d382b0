import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgDatabase, DATABASES, startTestServer } from "@speedyfiles/test-utils/server";
import { startS3rver, type S3Server } from "@speedyfiles/test-utils/s3";
import { serverProcess } from "@speedyfiles/test-utils/process";
import { blobPath, sha256, until } from "@speedyfiles/test-utils/uploads";
import { shareFiles, type Shared } from "@speedyfiles/test-utils/links";
import { sweepOnce } from "../src/jobs/sweeper.js";

const MiB = 1024 * 1024;

describe.each(DATABASES)("speedyfiles-server storage migrate --to s3 (%s)", (kind) => {
  let s3: S3Server;
  let dataDir: string;
  let pg: Awaited<ReturnType<typeof createPgDatabase>> | undefined;
  let env: Record<string, string>;
  let prefix: string;
  let shared: Shared;
  let keys: string[];
  const contents: Buffer[] = [Buffer.from("first file\n"), crypto.randomBytes(9 * MiB + 1), crypto.randomBytes(1000)];

  /** Runs the real CLI entry point on the data dir and database of the test. */
  async function migrate() {
    const p = serverProcess(["storage", "migrate", "--to", "s3"], env);
    const code = await p.code;
    return { code, stdout: p.stdout(), stderr: p.stderr() };
  }

  beforeAll(async () => {
    s3 = await startS3rver();
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-migrate-"));
    pg = kind === "postgres" ? await createPgDatabase() : undefined;
    // A server on local disk, as before the move.
    const t = await startTestServer(kind, { dataDir, ...(pg ? { databaseUrl: pg.url } : {}) });
    try {
      const alice = await t.createUser();
      shared = await shareFiles(t, alice.token, [
        ["a.txt", contents[0]!],
        ["big.bin", contents[1]!],
        ["c.bin", contents[2]!],
      ]);
      // A purged package: its rows stay, its bytes are gone on purpose.
      const gone = await shareFiles(t, alice.token, [["revoked.txt", "revoked"]]);
      await t.fetch(`/packages/${gone.id}/revoke`, { method: "POST", token: alice.token });
      expect((await sweepOnce(t.running.services)).purged).toBe(1);
      keys = await Promise.all(shared.files.map(async (f) => (await t.running.services.db("files").where({ id: f.id }).first()).storage_key as string));
      for (const k of keys) expect(await fs.stat(blobPath(t, k))).toBeTruthy();
    } finally {
      await t.close();
    }
    const { SF_STORAGE: _local, ...s3Env } = s3.env();
    prefix = s3Env.SF_S3_PREFIX!;
    // SF_STORAGE stays local: the migration runs before the switch.
    env = { SF_DATA_DIR: dataDir, SF_LOG_LEVEL: "warn", ...(pg ? { SF_DATABASE_URL: pg.url } : {}), ...s3Env };
  });
  afterAll(async () => {
    await s3?.stop();
    await pg?.drop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it("copies every file's bytes to the bucket under its key, verified; a rerun skips them; a corrupt local file is refused", async () => {
    const first = await migrate();
    expect(first.stderr).toContain("[4/4]");
    expect(first.stdout).toContain("4 files: 3 copied");
    expect(first.stdout).toContain("0 already in the bucket, 1 of purged packages (nothing to copy), 0 failed");
    expect(first.stdout).toContain("Nothing was switched");
    expect(first.code).toBe(0);
    expect(await s3.objects(prefix)).toEqual(keys.map((k) => `${prefix}${k}`).sort());
    for (const [i, k] of keys.entries()) expect(sha256(await s3.getObject(`${prefix}${k}`))).toBe(sha256(contents[i]!));

    const again = await migrate();
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("4 files: 0 copied");
    expect(again.stdout).toContain("3 already in the bucket");

    // One object lost, and its local copy damaged (same size, other bytes): the copy is refused
    // and nothing stays in the bucket for it; the exit code says so.
    const victim = keys[2]!;
    await s3.client.send(new (await import("@aws-sdk/client-s3")).DeleteObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${victim}` }));
    const local = path.join(dataDir, "blobs", victim.slice(0, 2), victim);
    await fs.writeFile(local, crypto.randomBytes(contents[2]!.length));
    const bad = await migrate();
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain("1 failed");
    expect(bad.stdout).toMatch(new RegExp(`failed: file ${shared.files[2]!.id}: the local bytes hash to [0-9a-f]{64}, the files table says ${sha256(contents[2]!)}`));
    expect(await s3.objects(prefix)).not.toContain(`${prefix}${victim}`);
    // put the good bytes back and finish the move
    await fs.writeFile(local, contents[2]!);
    expect((await migrate()).stdout).toContain("1 copied");
  });

  it("a server restarted with SF_STORAGE=s3 on the same database serves the files from the bucket", async () => {
    // The local copies are gone: every byte must come from the bucket.
    await fs.rm(path.join(dataDir, "blobs"), { recursive: true, force: true });
    const t = await startTestServer(kind, { dataDir, ...(pg ? { databaseUrl: pg.url } : {}), s3: { server: s3, prefix } });
    try {
      for (const [i, f] of shared.files.entries()) {
        const res = await fetch(`${t.api}/links/${shared.secret}/files/${f.id}`);
        expect(res.status).toBe(200);
        expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(contents[i]!));
      }
    } finally {
      await t.close();
    }
  });

  it("without a bucket configured it stops with one clear line", async () => {
    const p = serverProcess(["storage", "migrate", "--to", "s3"], { SF_DATA_DIR: dataDir });
    expect(await p.code).toBe(2);
    expect(p.stderr().trim()).toBe("speedyfiles-server: invalid configuration: storage migrate --to s3 needs SF_S3_BUCKET (and the other SF_S3_* settings of the bucket)");
  });
});

describe.each(DATABASES)("storage migrate: Ctrl-C, two runs at once, a corrupt local file (%s)", (kind) => {
  let s3: S3Server;
  let dataDir: string;
  let pg: Awaited<ReturnType<typeof createPgDatabase>> | undefined;
  let env: Record<string, string>;
  let prefix: string;
  let bigKey: string;
  let badKey: string;
  const big = crypto.randomBytes(64 * MiB);
  const migrate = () => serverProcess(["storage", "migrate", "--to", "s3"], env);
  const requestsFor = (key: string) => s3.requests().filter((r) => r.includes(`/${s3.bucket}/${prefix}${key}`));

  beforeAll(async () => {
    s3 = await startS3rver();
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-migrate-"));
    pg = kind === "postgres" ? await createPgDatabase() : undefined;
    const t = await startTestServer(kind, { dataDir, ...(pg ? { databaseUrl: pg.url } : {}) });
    try {
      const alice = await t.createUser();
      const shared = await shareFiles(t, alice.token, [
        ["big.bin", big],
        ["bad.bin", "the bytes as uploaded"],
      ]);
      const keyOf = async (id: string) => (await t.running.services.db("files").where({ id }).first()).storage_key as string;
      bigKey = await keyOf(shared.files[0]!.id);
      badKey = await keyOf(shared.files[1]!.id);
      // Damaged on disk since: same size, other bytes.
      await fs.writeFile(blobPath(t, badKey), "the bytes AS uploaded");
    } finally {
      await t.close();
    }
    const { SF_STORAGE: _local, ...s3Env } = s3.env();
    prefix = s3Env.SF_S3_PREFIX!;
    env = { SF_DATA_DIR: dataDir, SF_LOG_LEVEL: "warn", ...(pg ? { SF_DATABASE_URL: pg.url } : {}), ...s3Env };
  });
  afterAll(async () => {
    s3?.thaw();
    await s3?.stop();
    await pg?.drop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it("Ctrl-C aborts the multipart upload in flight, says how far it got, exits 130; a second run meanwhile refuses at once", async () => {
    const first = migrate();
    await until(async () => requestsFor(bigKey).some((r) => /^POST \S+\?uploads/.test(r)), 30_000, "the multipart upload to start");
    // The store stops answering: the copy is stuck mid-upload, holding its lock.
    s3.freeze();
    try {
      const second = migrate();
      const code = await Promise.race([second.code, new Promise<string>((r) => setTimeout(() => r("still running"), 15_000))]);
      if (code === "still running") second.kill("SIGKILL");
      expect(code).toBe(1);
      expect(second.stderr()).toMatch(/another storage migrate is already running/);
      first.kill("SIGINT");
    } finally {
      s3.thaw();
    }
    expect(await first.code).toBe(130);
    expect(first.stdout().trim().split("\n").at(-1)).toMatch(
      /^storage migrate: interrupted at file \d\/2 \(\d copied, 0 already in the bucket\); .*run the same command again to resume/,
    );
    await until(async () => requestsFor(bigKey).some((r) => /^DELETE \S+\?uploadId=/.test(r)), 10_000, "the multipart upload's abort");
    expect(await s3.objects(prefix)).toEqual([]);
  });

  it("a rerun copies what is left; a local file that does not hash to its record is never sent to the bucket", async () => {
    const again = migrate();
    expect(await again.code).toBe(1);
    expect(again.stdout()).toContain("1 copied");
    expect(again.stdout()).toContain("1 failed");
    expect(await s3.objects(prefix)).toEqual([`${prefix}${bigKey}`]);
    expect(sha256(await s3.getObject(`${prefix}${bigKey}`))).toBe(sha256(big));
    // Only looked at: no PUT, no multipart upload, so a crash could never leave it claiming a hash it lacks.
    expect(requestsFor(badKey).filter((r) => !/^HEAD /.test(r))).toEqual([]);
  });
});
