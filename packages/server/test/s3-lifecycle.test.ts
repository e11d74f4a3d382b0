import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startS3rver, type S3Server } from "@speedyfiles/test-utils/s3";
import { addFile, createPackage, sha256 } from "@speedyfiles/test-utils/uploads";
import { finalize, requestFiles, uploadToLink } from "@speedyfiles/test-utils/links";
import { filesUnder, until } from "@speedyfiles/test-utils/uploads";

const run = promisify(execFile);
const MiB = 1024 * 1024;
/** unzip reads UTF-8 names only in a UTF-8 locale. */
const UNZIP_ENV = { ...process.env, LANG: "C.UTF-8", LC_ALL: "C.UTF-8" };

const MODES = [
  { mode: "proxied", presign: false },
  { mode: "presigned", presign: true },
] as const;

/**
 * The whole life of files on S3 storage, as a user lives it, on both databases and with
 * downloads through the server and through presigned URLs: nothing of it touches the local disk.
 */
describe.each(DATABASES.flatMap((kind) => MODES.map((m) => ({ kind, ...m }))))("file lifecycle on S3 ($kind, $mode downloads)", ({ kind, presign }) => {
  let s3: S3Server;
  let t: TestServer;
  let alice: Awaited<ReturnType<TestServer["createUser"]>>;
  let tmp: string;

  beforeAll(async () => {
    s3 = await startS3rver();
    t = await startTestServer(kind, { s3: { server: s3, presign } });
    alice = await t.createUser();
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), "sf-lifecycle-"));
  });
  afterAll(async () => {
    await t?.close();
    await s3?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it("create, upload (one file multipart), finalize, download by link (file and zip) and as owner, delete", async () => {
    const files: [string, Buffer][] = [
      ["report.pdf", crypto.randomBytes(200_000)],
      ["data/large.bin", crypto.randomBytes(12 * MiB + 3)],
      ["notes é.txt", Buffer.from("small notes\n")],
      ["empty.txt", Buffer.alloc(0)],
    ];
    const pkg = await createPackage(t, alice.token, { title: "Lifecycle on S3" });
    const stored = [];
    for (const [name, bytes] of files) {
      // One second apart: a zip lists files in upload order.
      t.clock.advance(1000);
      const f = await addFile(t, alice.token, pkg.id, name, bytes);
      expect(f.sha256).toBe(sha256(bytes));
      stored.push(f);
    }
    // every byte in the bucket (one object per file, the empty one too), none on local disk
    expect(await s3.objects(t.s3!.prefix)).toHaveLength(files.length);
    expect(await filesUnder(path.join(t.dataDir, "blobs"))).toEqual([]);
    const secret = await finalize(t, alice.token, pkg.id);
    const linkApi = `${t.api}/links/${secret}`;

    // the recipient: each file, then the zip
    for (const [i, [, bytes]] of files.entries()) {
      const res = await fetch(`${linkApi}/files/${stored[i]!.id}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-disposition")).toMatch(/^attachment; /);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(bytes));
    }
    const zip = await fetch(`${linkApi}/archive`);
    expect(zip.status).toBe(200);
    const zipFile = path.join(tmp, `${kind}-${presign}.zip`);
    await fs.writeFile(zipFile, Buffer.from(await zip.arrayBuffer()));
    const listed = (await run("unzip", ["-Z1", zipFile], { env: UNZIP_ENV })).stdout.trim().split("\n");
    expect(listed).toEqual(files.map(([n]) => n));
    for (const [name, bytes] of files) {
      const { stdout } = await run("unzip", ["-p", zipFile, name], { env: UNZIP_ENV, encoding: "buffer", maxBuffer: 64 * MiB });
      expect(sha256(stdout)).toBe(sha256(bytes));
    }

    // the owner
    const own = await t.fetch(`/packages/${pkg.id}/files/${stored[1]!.id}`, { token: alice.token });
    expect(own.status).toBe(200);
    expect(sha256(Buffer.from(await own.arrayBuffer()))).toBe(sha256(files[1]![1]));

    // the audit trail saw every download (the presigned ones when handed out; a proxied one is
    // recorded just after its last byte left, so a moment after the client has it)
    const count = async (type: string) =>
      ((await (await t.fetch(`/packages/${pkg.id}/events`, { token: alice.token })).json()) as { type: string }[]).filter((e) => e.type === type).length;
    await until(async () => (await count("archive_download")) === 1, 5000, "the archive download event");
    expect(await count("file_download")).toBe(files.length);

    // delete: the package and every object go
    expect((await t.fetch(`/packages/${pkg.id}`, { method: "DELETE", token: alice.token })).status).toBe(204);
    expect(await s3.objects(t.s3!.prefix)).toEqual([]);
  });

  it("an upload link: the recipient's files land in the bucket and the owner downloads them", async () => {
    const inbound = await requestFiles(t, alice.token);
    const bytes = crypto.randomBytes(9 * MiB);
    const up = await uploadToLink(inbound.api, "from-recipient.bin", bytes);
    expect(up.status).toBe(201);
    const f = (await up.json()) as { id: string };
    expect(await s3.objects(t.s3!.prefix)).toHaveLength(1);
    const own = await t.fetch(`/packages/${inbound.id}/files/${f.id}`, { token: alice.token });
    expect(sha256(Buffer.from(await own.arrayBuffer()))).toBe(sha256(bytes));
    expect((await t.fetch(`/packages/${inbound.id}`, { method: "DELETE", token: alice.token })).status).toBe(204);
    expect(await s3.objects(t.s3!.prefix)).toEqual([]);
  });
});
