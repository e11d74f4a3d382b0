import crypto from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { addFile, blobPath, createPackage, exists, filesUnder, rawMultipart, sha256, until, uploadFile, uploadRaw } from "@speedyfiles/test-utils/uploads";

const MiB = 1024 * 1024;

/** Everything the server has stored: file rows, blobs and temp files. */
async function snapshot(t: TestServer) {
  return {
    rows: (await t.running.services.db("files").count<{ n: number | string }[]>({ n: "*" }))[0]!.n,
    blobs: await filesUnder(path.join(t.dataDir, "blobs")),
    tmp: await filesUnder(path.join(t.dataDir, "tmp")),
  };
}

async function expectNothingStored(t: TestServer, before: Awaited<ReturnType<typeof snapshot>>) {
  // a rejected upload's temp file is removed as the request ends; allow the unlink to land
  await until(async () => (await filesUnder(path.join(t.dataDir, "tmp"))).length === 0, 5000, "tmp to be empty");
  const after = await snapshot(t);
  expect(Number(after.rows)).toBe(Number(before.rows));
  expect(after.blobs).toEqual(before.blobs);
  expect(after.tmp).toEqual([]);
}

async function download(t: TestServer, token: string, pkgId: string, fileId: string, headers: Record<string, string> = {}) {
  const res = await t.fetch(`/packages/${pkgId}/files/${fileId}`, { token, headers });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

describe.each(DATABASES)("files (%s)", (kind) => {
  let t: TestServer;
  let token: string;

  beforeAll(async () => {
    t = await startTestServer(kind);
    token = (await t.createUser()).token;
  });
  afterAll(async () => {
    await t?.close();
  });

  describe("upload and download", () => {
    it("round-trips a random 3 MiB file byte for byte, with its SHA-256", async () => {
      const pkg = await createPackage(t, token);
      const bytes = crypto.randomBytes(3 * MiB);
      const res = await uploadFile(t, token, pkg.id, "random.bin", bytes, { type: "application/x-random" });
      expect(res.status).toBe(201);
      const file = await res.json();
      expect(file).toMatchObject({ name: "random.bin", size: 3 * MiB, sha256: sha256(bytes), content_type: "application/x-random" });

      const { res: dl, body } = await download(t, token, pkg.id, file.id);
      expect(dl.status).toBe(200);
      expect(dl.headers.get("content-length")).toBe(String(3 * MiB));
      expect(dl.headers.get("etag")).toBe(`"${sha256(bytes)}"`);
      expect(dl.headers.get("content-type")).toBe("application/x-random");
      expect(sha256(body)).toBe(sha256(bytes));
      expect(body.equals(bytes)).toBe(true);

      const detail = await (await t.fetch(`/packages/${pkg.id}`, { token })).json();
      expect(detail).toMatchObject({ file_count: 1, total_size: 3 * MiB });
      expect(detail.files).toEqual([file]);
      // the stored blob is exactly the bytes, under a generated key (not the file name)
      const row = await t.running.services.db("files").where({ id: file.id }).first();
      expect(row.storage_key).not.toContain("random");
      expect((await fs.readFile(blobPath(t, row.storage_key))).equals(bytes)).toBe(true);
    });

    it("stores and serves a 0-byte file", async () => {
      const pkg = await createPackage(t, token);
      const res = await uploadFile(t, token, pkg.id, "empty.txt", Buffer.alloc(0));
      expect(res.status).toBe(201);
      const file = await res.json();
      expect(file).toMatchObject({ name: "empty.txt", size: 0, sha256: sha256(Buffer.alloc(0)) });
      const { res: dl, body } = await download(t, token, pkg.id, file.id);
      expect(dl.status).toBe(200);
      expect(dl.headers.get("content-length")).toBe("0");
      expect(body.length).toBe(0);
      // any range of an empty file is unsatisfiable
      const r = await t.fetch(`/packages/${pkg.id}/files/${file.id}`, { token, headers: { Range: "bytes=0-0" } });
      expect(r.status).toBe(416);
      expect(r.headers.get("content-range")).toBe("bytes */0");
    });

    it("keeps a relative path such as sub/dir/a.txt as the name", async () => {
      const pkg = await createPackage(t, token);
      const f = await addFile(t, token, pkg.id, "sub/dir/a.txt", "nested");
      expect(f.name).toBe("sub/dir/a.txt");
      const detail = await (await t.fetch(`/packages/${pkg.id}`, { token })).json();
      expect(detail.files.map((x: { name: string }) => x.name)).toEqual(["sub/dir/a.txt"]);
      const { res, body } = await download(t, token, pkg.id, f.id);
      expect(body.toString()).toBe("nested");
      // saved as its last segment
      expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="a\.txt"/);
    });

    it("keeps a non-ASCII file name sent as raw UTF-8 (as fetch and browsers send it)", async () => {
      const pkg = await createPackage(t, token);
      const res = await uploadFile(t, token, pkg.id, "résumé-日本.pdf", "cv");
      expect(res.status).toBe(201);
      expect((await res.json()).name).toBe("résumé-日本.pdf");
    });

    it("answers 409 for a second file with the same name, keeping the first", async () => {
      const pkg = await createPackage(t, token);
      const first = await addFile(t, token, pkg.id, "dup.txt", "first");
      const before = await snapshot(t);
      const res = await uploadFile(t, token, pkg.id, "dup.txt", "second");
      expect(res.status).toBe(409);
      expect((await res.json()).detail).toMatch(/dup\.txt/);
      await expectNothingStored(t, before);
      const { body } = await download(t, token, pkg.id, first.id);
      expect(body.toString()).toBe("first");
      // a different path with the same base name is a different file
      expect((await uploadFile(t, token, pkg.id, "other/dup.txt", "third")).status).toBe(201);
    });

    it("stores two concurrent uploads to the same package", async () => {
      const pkg = await createPackage(t, token);
      const a = crypto.randomBytes(MiB + 17);
      const b = crypto.randomBytes(2 * MiB + 3);
      const [ra, rb] = await Promise.all([uploadFile(t, token, pkg.id, "a.bin", a), uploadFile(t, token, pkg.id, "b.bin", b)]);
      expect([ra.status, rb.status]).toEqual([201, 201]);
      const fa = await ra.json();
      const fb = await rb.json();
      expect((await download(t, token, pkg.id, fa.id)).body.equals(a)).toBe(true);
      expect((await download(t, token, pkg.id, fb.id)).body.equals(b)).toBe(true);
      const detail = await (await t.fetch(`/packages/${pkg.id}`, { token })).json();
      expect(detail).toMatchObject({ file_count: 2, total_size: a.length + b.length });
    });
  });

  describe("hostile file names", () => {
    let pkgId: string;
    beforeAll(async () => {
      pkgId = (await createPackage(t, token)).id;
    });

    const pct = (s: string) => encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    // quoted-string per RFC 2616: backslash and quote escaped
    const quoted = (s: string) => `filename="${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

    const names: [string, string][] = [
      ["parent traversal", "../x"],
      ["nested traversal", "a/../../x"],
      ["absolute path", "/etc/passwd"],
      ["backslash", "a\\b"],
      ["Windows traversal", "..\\x"],
      ["empty segment", "a//b"],
      ["dot segment", "./a"],
      ["trailing slash", "a/"],
      ["NUL", "a\u0000b"],
      ["newline", "a\nb"],
      ["carriage return", "a\rb"],
      ["tab", "a\tb"],
      ["DEL", "a\u007fb"],
      ["bidi override", "invoice\u202efdp.exe"],
      ["drive letter", "C:/x"],
      ["drive letter, backslash", "C:\\x"],
      ["dot only", "."],
      ["dot dot only", ".."],
      ["blank segment", "a/ /b"],
      ["name too long", "n".repeat(1025)],
      ["segment too long", "s".repeat(256)],
    ];

    it.each(names)("rejects %s sent RFC 2231-encoded (filename*=UTF-8''…) with 422, storing nothing", async (_label, name) => {
      const before = await snapshot(t);
      const res = await uploadRaw(t, token, pkgId, `filename*=UTF-8''${pct(name)}`);
      expect(res.status).toBe(422);
      const body = await res.json();
      expect(body.detail).toBeTruthy();
      expect(body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: expect.stringMatching(/^\/body/) })]));
      await expectNothingStored(t, before);
    });

    it.each(names.filter(([, n]) => !/[\u0000-\u001f]/.test(n)))("rejects %s sent as a plain quoted filename with 422, storing nothing", async (_label, name) => {
      const before = await snapshot(t);
      const res = await uploadRaw(t, token, pkgId, quoted(name));
      expect(res.status).toBe(422);
      expect((await res.json()).detail).toBeTruthy();
      await expectNothingStored(t, before);
    });

    it("rejects percent-encoded traversal ..%2Fx in filename* (decoded before the check)", async () => {
      const before = await snapshot(t);
      for (const d of [`filename*=UTF-8''..%2Fx`, `filename*=UTF-8''..%2fx`, `filename*=utf-8''%2E%2E%2Fx`, `filename="ok.txt"; filename*=UTF-8''..%2Fetc%2Fpasswd`]) {
        const res = await uploadRaw(t, token, pkgId, d);
        expect(res.status, d).toBe(422);
      }
      await expectNothingStored(t, before);
    });

    it("rejects hostile names sent through fetch's FormData", async () => {
      const before = await snapshot(t);
      for (const name of ["../x", "/etc/passwd", "a\\b", "a//b", "./a", "C:/x", "x\u202etxt.exe"]) {
        const res = await uploadFile(t, token, pkgId, name, "evil");
        expect(res.status, JSON.stringify(name)).toBe(422);
      }
      await expectNothingStored(t, before);
    });

    it("rejects a file part without a name, or no file part at all", async () => {
      const before = await snapshot(t);
      const noName = rawMultipart(`filename=""`, "x");
      const r1 = await t.fetch(`/packages/${pkgId}/files`, { method: "POST", token, headers: { "Content-Type": noName.contentType }, body: new Uint8Array(noName.body) });
      expect(r1.status).toBe(422);
      const form = new FormData();
      form.append("note", "no file here");
      const r2 = await t.fetch(`/packages/${pkgId}/files`, { method: "POST", token, body: form });
      expect(r2.status).toBe(422);
      const wrongField = new FormData();
      wrongField.append("upload", new Blob(["x"]), "x.txt");
      const r3 = await t.fetch(`/packages/${pkgId}/files`, { method: "POST", token, body: wrongField });
      expect(r3.status).toBe(422);
      await expectNothingStored(t, before);
      expect((await (await t.fetch(`/packages/${pkgId}`, { token })).json()).file_count).toBe(0);
    });

    it("still accepts ordinary names with dots, spaces and unicode", async () => {
      const ok = ["..hidden", "a..b.txt", "report v2 (final).pdf", "dir.d/file", "日本語/ファイル.txt", "résumé «final» 100%; v2.pdf"];
      for (const name of ok) {
        const res = await uploadRaw(t, token, pkgId, `filename*=UTF-8''${pct(name)}`, name);
        expect(res.status, name).toBe(201);
        expect((await res.json()).name).toBe(name);
      }
    });
  });

  describe("limits", () => {
    let lt: TestServer;
    let ltoken: string;
    const LIMIT = 65536;

    beforeAll(async () => {
      lt = await startTestServer(kind, {
        env: { SF_MAX_FILE_BYTES: String(LIMIT), SF_MAX_FILES_PER_PACKAGE: "3", SF_MAX_PACKAGE_BYTES: "150000" },
      });
      ltoken = (await lt.createUser()).token;
    });
    afterAll(async () => {
      await lt?.close();
    });

    it("accepts a file of exactly SF_MAX_FILE_BYTES and refuses one byte more with 413, storing nothing", async () => {
      const pkg = await createPackage(lt, ltoken);
      const exact = crypto.randomBytes(LIMIT);
      const ok = await uploadFile(lt, ltoken, pkg.id, "exact.bin", exact);
      expect(ok.status).toBe(201);
      expect(await ok.json()).toMatchObject({ size: LIMIT, sha256: sha256(exact) });

      const before = await snapshot(lt);
      const over = await uploadFile(lt, ltoken, pkg.id, "over.bin", crypto.randomBytes(LIMIT + 1));
      expect(over.status).toBe(413);
      expect((await over.json()).detail).toMatch(String(LIMIT));
      await expectNothingStored(lt, before);
      const detail = await (await lt.fetch(`/packages/${pkg.id}`, { token: ltoken })).json();
      expect(detail.files.map((f: { name: string }) => f.name)).toEqual(["exact.bin"]);
    });

    it("refuses an upload announced far over the limit before reading it", async () => {
      const pkg = await createPackage(lt, ltoken);
      const before = await snapshot(lt);
      const res = await uploadFile(lt, ltoken, pkg.id, "huge.bin", crypto.randomBytes(LIMIT * 4));
      expect(res.status).toBe(413);
      expect((await res.json()).detail).toBeTruthy();
      await expectNothingStored(lt, before);
    });

    it("a client that sent Connection: close and keeps sending a refused body still reads the 413", async () => {
      const pkg = await createPackage(lt, ltoken);
      const boundary = "----sfclose";
      const body = 16 * 1024 * 1024;
      const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n`);
      const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
      const block = crypto.randomBytes(64 * 1024);
      for (let round = 0; round < 3; round++) {
        const answer = await new Promise<{ status: number; body: string } | string>((resolve) => {
          // agent: false sends `Connection: close`, as curl -H 'Connection: close' or an HTTP/1.0 proxy would.
          const req = http.request(
            `${lt.api}/packages/${pkg.id}/files`,
            {
              method: "POST",
              agent: false,
              headers: { Authorization: `Bearer ${ltoken}`, "Content-Type": `multipart/form-data; boundary=${boundary}`, "Content-Length": head.length + body + tail.length },
            },
            (res) => {
              let text = "";
              res.on("data", (c: Buffer) => (text += c.toString()));
              res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
              res.on("error", (err) => resolve(`response cut: ${err.message}`));
            },
          );
          req.on("error", (err) => resolve(`request cut: ${err.message}`));
          void (async () => {
            req.write(head);
            for (let sent = 0; sent < body && !req.destroyed; sent += block.length) {
              if (!req.write(block)) await new Promise((r) => req.once("drain", r));
            }
            req.end(tail);
          })();
        });
        expect(answer).toMatchObject({ status: 413 });
      }
    });

    it("refuses a file over SF_MAX_FILES_PER_PACKAGE with 413", async () => {
      const pkg = await createPackage(lt, ltoken);
      for (const n of ["1.txt", "2.txt", "3.txt"]) await addFile(lt, ltoken, pkg.id, n, n);
      const before = await snapshot(lt);
      const res = await uploadFile(lt, ltoken, pkg.id, "4.txt", "4");
      expect(res.status).toBe(413);
      expect((await res.json()).detail).toMatch(/3 files/);
      await expectNothingStored(lt, before);
      // another package is not affected
      const other = await createPackage(lt, ltoken);
      expect((await uploadFile(lt, ltoken, other.id, "4.txt", "4")).status).toBe(201);
    });

    it("refuses bytes over SF_MAX_PACKAGE_BYTES with 413, accepting exactly what is left", async () => {
      const pkg = await createPackage(lt, ltoken);
      await addFile(lt, ltoken, pkg.id, "a.bin", crypto.randomBytes(LIMIT));
      await addFile(lt, ltoken, pkg.id, "b.bin", crypto.randomBytes(LIMIT));
      const left = 150000 - 2 * LIMIT;
      const before = await snapshot(lt);
      const over = await uploadFile(lt, ltoken, pkg.id, "c.bin", crypto.randomBytes(left + 1));
      expect(over.status).toBe(413);
      expect((await over.json()).detail).toMatch(/150000/);
      await expectNothingStored(lt, before);
      const exact = await uploadFile(lt, ltoken, pkg.id, "c.bin", crypto.randomBytes(left));
      expect(exact.status).toBe(201);
      const detail = await (await lt.fetch(`/packages/${pkg.id}`, { token: ltoken })).json();
      expect(detail.total_size).toBe(150000);
    });
  });

  describe("sha256 field", () => {
    it("accepts a matching checksum (lower or upper case hex)", async () => {
      const pkg = await createPackage(t, token);
      const bytes = crypto.randomBytes(10_000);
      const r1 = await uploadFile(t, token, pkg.id, "lower.bin", bytes, { sha256: sha256(bytes) });
      expect(r1.status).toBe(201);
      expect((await r1.json()).sha256).toBe(sha256(bytes));
      const r2 = await uploadFile(t, token, pkg.id, "upper.bin", bytes, { sha256: sha256(bytes).toUpperCase() });
      expect(r2.status).toBe(201);
    });

    it("answers 422 for a wrong checksum, storing nothing", async () => {
      const pkg = await createPackage(t, token);
      const bytes = crypto.randomBytes(200_000);
      const before = await snapshot(t);
      const res = await uploadFile(t, token, pkg.id, "bad.bin", bytes, { sha256: sha256("something else") });
      expect(res.status).toBe(422);
      const body = await res.json();
      expect(body.detail).toMatch(/SHA-256/i);
      expect(body.detail).toContain(sha256(bytes));
      await expectNothingStored(t, before);
      expect((await (await t.fetch(`/packages/${pkg.id}`, { token })).json()).file_count).toBe(0);
    });

    it("answers 422 for a malformed checksum or one sent after the file, storing nothing", async () => {
      const pkg = await createPackage(t, token);
      const before = await snapshot(t);
      const bad = await uploadFile(t, token, pkg.id, "x.bin", "x", { sha256: "abc" });
      expect(bad.status).toBe(422);
      const form = new FormData();
      form.append("file", new Blob(["late"]), "late.bin");
      form.append("sha256", sha256("late"));
      const late = await t.fetch(`/packages/${pkg.id}/files`, { method: "POST", token, body: form });
      expect(late.status).toBe(422);
      await expectNothingStored(t, before);
    });
  });

  describe("state", () => {
    it("answers 409 to an upload into a finalized package, storing nothing", async () => {
      const pkg = await createPackage(t, token);
      await addFile(t, token, pkg.id, "a.txt", "a");
      expect((await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token })).status).toBe(200);
      const before = await snapshot(t);
      const res = await uploadFile(t, token, pkg.id, "b.txt", "b");
      expect(res.status).toBe(409);
      expect((await res.json()).detail).toBeTruthy();
      await expectNothingStored(t, before);
    });

    it("deletes a file from a draft (204, bytes gone) but not from a finalized package (409)", async () => {
      const pkg = await createPackage(t, token);
      const f1 = await addFile(t, token, pkg.id, "gone.txt", "bye");
      const f2 = await addFile(t, token, pkg.id, "stays.txt", "hi");
      const db = t.running.services.db;
      const key1 = (await db("files").where({ id: f1.id }).first()).storage_key as string;
      expect(await exists(blobPath(t, key1))).toBe(true);

      const del = await t.fetch(`/packages/${pkg.id}/files/${f1.id}`, { method: "DELETE", token });
      expect(del.status).toBe(204);
      expect(await exists(blobPath(t, key1))).toBe(false);
      expect(await db("files").where({ id: f1.id }).first()).toBeUndefined();
      expect((await t.fetch(`/packages/${pkg.id}/files/${f1.id}`, { token })).status).toBe(404);
      expect((await t.fetch(`/packages/${pkg.id}/files/${f1.id}`, { method: "DELETE", token })).status).toBe(404);
      // the name is free again
      expect((await uploadFile(t, token, pkg.id, "gone.txt", "back")).status).toBe(201);

      expect((await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token })).status).toBe(200);
      const key2 = (await db("files").where({ id: f2.id }).first()).storage_key as string;
      const locked = await t.fetch(`/packages/${pkg.id}/files/${f2.id}`, { method: "DELETE", token });
      expect(locked.status).toBe(409);
      expect((await locked.json()).detail).toBeTruthy();
      expect(await exists(blobPath(t, key2))).toBe(true);
      expect((await download(t, token, pkg.id, f2.id)).body.toString()).toBe("hi");
    });
  });

  describe("wrong body types", () => {
    it("answers 415 or 422 with a detail to a non-multipart upload, storing nothing", async () => {
      const pkg = await createPackage(t, token);
      const before = await snapshot(t);
      const asJson = await t.fetch(`/packages/${pkg.id}/files`, { method: "POST", token, json: { file: "aGVsbG8=", name: "a.txt" } });
      expect([415, 422]).toContain(asJson.status);
      expect(typeof (await asJson.json()).detail).toBe("string");
      const asText = await t.fetch(`/packages/${pkg.id}/files`, { method: "POST", token, headers: { "Content-Type": "text/plain" }, body: "hello" });
      expect([415, 422]).toContain(asText.status);
      expect(typeof (await asText.json()).detail).toBe("string");
      const noBoundary = await t.fetch(`/packages/${pkg.id}/files`, { method: "POST", token, headers: { "Content-Type": "multipart/form-data" }, body: "x" });
      expect([415, 422]).toContain(noBoundary.status);
      expect(typeof (await noBoundary.json()).detail).toBe("string");
      const truncated = rawMultipart(`filename="t.txt"`, "truncated");
      const cut = await t.fetch(`/packages/${pkg.id}/files`, {
        method: "POST",
        token,
        headers: { "Content-Type": truncated.contentType },
        body: new Uint8Array(truncated.body.subarray(0, truncated.body.length - 20)),
      });
      expect(cut.status).toBe(422);
      await expectNothingStored(t, before);
    });
  });

  describe("client abort", () => {
    it("removes the partial upload when the client goes away mid-body", async () => {
      const pkg = await createPackage(t, token);
      const before = await snapshot(t);
      const boundary = "----sfabort";
      const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
      const total = head.length + 64 * MiB;
      const url = new URL(`${t.api}/packages/${pkg.id}/files`);
      const req = http.request({
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: {
          Authorization: `Bearer ${token}`,
          "Content-Type": `multipart/form-data; boundary=${boundary}`,
          "Content-Length": String(total),
        },
      });
      const responded = new Promise<number | "aborted">((resolve) => {
        req.on("response", (r) => resolve(r.statusCode ?? 0));
        req.on("error", () => resolve("aborted"));
        req.on("close", () => resolve("aborted"));
      });
      req.write(head);
      const chunk = crypto.randomBytes(256 * 1024);
      for (let i = 0; i < 8; i++) req.write(chunk);

      const tmpDir = path.join(t.dataDir, "tmp");
      await until(async () => (await filesUnder(tmpDir)).some((f) => f.endsWith(".part")), 10_000, "a .part file in tmp");
      req.destroy();
      expect(await responded).toBe("aborted");

      await until(async () => (await filesUnder(tmpDir)).length === 0, 10_000, "tmp to be empty after the abort");
      await expectNothingStored(t, before);
      const rows = await t.running.services.db("files").where({ package_id: pkg.id });
      expect(rows).toEqual([]);
      // the package still works
      expect((await uploadFile(t, token, pkg.id, "big.bin", "small now")).status).toBe(201);
    });
  });

  describe("ranges and caching", () => {
    let pkgId: string;
    let fileId: string;
    const bytes = crypto.randomBytes(1000);
    const etag = `"${sha256(bytes)}"`;

    beforeAll(async () => {
      pkgId = (await createPackage(t, token)).id;
      fileId = (await addFile(t, token, pkgId, "range.bin", bytes)).id;
    });

    const get = (headers: Record<string, string>) => download(t, token, pkgId, fileId, headers);

    it("serves bytes=0-9 as 206 with Content-Range", async () => {
      const { res, body } = await get({ Range: "bytes=0-9" });
      expect(res.status).toBe(206);
      expect(res.headers.get("content-range")).toBe("bytes 0-9/1000");
      expect(res.headers.get("content-length")).toBe("10");
      expect(body.equals(bytes.subarray(0, 10))).toBe(true);
    });

    it("serves a suffix range bytes=-5", async () => {
      const { res, body } = await get({ Range: "bytes=-5" });
      expect(res.status).toBe(206);
      expect(res.headers.get("content-range")).toBe("bytes 995-999/1000");
      expect(body.equals(bytes.subarray(995))).toBe(true);
    });

    it("serves an open range bytes=10-", async () => {
      const { res, body } = await get({ Range: "bytes=10-" });
      expect(res.status).toBe(206);
      expect(res.headers.get("content-range")).toBe("bytes 10-999/1000");
      expect(body.equals(bytes.subarray(10))).toBe(true);
    });

    it("clamps an end past the size and serves a middle range", async () => {
      const a = await get({ Range: "bytes=990-5000" });
      expect(a.res.status).toBe(206);
      expect(a.res.headers.get("content-range")).toBe("bytes 990-999/1000");
      expect(a.body.equals(bytes.subarray(990))).toBe(true);
      const b = await get({ Range: "bytes=100-199" });
      expect(b.body.equals(bytes.subarray(100, 200))).toBe(true);
    });

    it("answers 416 with Content-Range: bytes */size for a range beyond the file", async () => {
      for (const range of ["bytes=1000-", "bytes=5000-6000", "bytes=-0"]) {
        const { res, body } = await get({ Range: range });
        expect(res.status, range).toBe(416);
        expect(res.headers.get("content-range"), range).toBe("bytes */1000");
        expect(JSON.parse(body.toString()).detail).toBeTruthy();
      }
    });

    it("honours If-Range: the right ETag gives 206, a wrong one the whole file", async () => {
      const right = await get({ Range: "bytes=0-9", "If-Range": etag });
      expect(right.res.status).toBe(206);
      expect(right.body.equals(bytes.subarray(0, 10))).toBe(true);
      const wrong = await get({ Range: "bytes=0-9", "If-Range": `"${"0".repeat(64)}"` });
      expect(wrong.res.status).toBe(200);
      expect(wrong.res.headers.get("content-range")).toBeNull();
      expect(wrong.body.equals(bytes)).toBe(true);
    });

    it("answers 304 to If-None-Match with the ETag, 200 otherwise", async () => {
      const hit = await get({ "If-None-Match": etag });
      expect(hit.res.status).toBe(304);
      expect(hit.body.length).toBe(0);
      expect(hit.res.headers.get("etag")).toBe(etag);
      const list = await get({ "If-None-Match": `"other", ${etag}` });
      expect(list.res.status).toBe(304);
      const miss = await get({ "If-None-Match": `"${"f".repeat(64)}"` });
      expect(miss.res.status).toBe(200);
      expect(miss.body.equals(bytes)).toBe(true);
    });

    it("always answers as an attachment with nosniff and Accept-Ranges", async () => {
      const { res } = await get({});
      expect(res.status).toBe(200);
      expect(res.headers.get("content-disposition")).toBe(`attachment; filename="range.bin"; filename*=UTF-8''range.bin`);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("accept-ranges")).toBe("bytes");
    });

    it("encodes a non-ASCII name in filename*=UTF-8'' with a safe ASCII fallback", async () => {
      const name = "résumé «final» 100%; v2.pdf";
      const up = await uploadRaw(t, token, pkgId, `filename*=UTF-8''${encodeURIComponent(name)}`, "%PDF-1.7");
      expect(up.status).toBe(201);
      const f = await up.json();
      expect(f.name).toBe(name);
      const { res, body } = await download(t, token, pkgId, f.id);
      expect(body.toString()).toBe("%PDF-1.7");
      const cd = res.headers.get("content-disposition")!;
      expect(cd).toMatch(/^attachment;/);
      const star = /filename\*=UTF-8''([^;\s]+)/.exec(cd);
      expect(star).not.toBeNull();
      expect(decodeURIComponent(star![1]!)).toBe(name);
      expect(star![1]).toMatch(/^[A-Za-z0-9%._~!$&+^`|-]+$/); // attr-char / pct-encoded only
      const fallback = /filename="([^"]*)"/.exec(cd);
      expect(fallback).not.toBeNull();
      expect(fallback![1]).toMatch(/^[\x20-\x7e]+$/);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    });

    it("serves an HTML upload as an attachment, never inline", async () => {
      const f = await addFile(t, token, pkgId, "page.html", "<script>alert(1)</script>");
      const { res } = await download(t, token, pkgId, f.id);
      expect(res.headers.get("content-disposition")).toMatch(/^attachment;/);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("content-security-policy")).toMatch(/sandbox/);
    });
  });
});
