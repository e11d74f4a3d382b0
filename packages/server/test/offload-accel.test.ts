import crypto from "node:crypto";
import http from "node:http";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { shareFiles, type Shared } from "@speedyfiles/test-utils/links";
import { sha256 } from "@speedyfiles/test-utils/uploads";
import { startNginx, type TestNginx } from "@speedyfiles/test-utils/nginx";
import { attachmentDisposition } from "../src/services/file-names.js";
import { DOWNLOAD_CSP } from "../src/http/security-headers.js";

const MiB = 1024 * 1024;
const PREFIX = "/_sf_blobs/";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

/** A raw GET/HEAD: status, headers and every body byte that arrived (fetch would hide a stray body on some answers). */
function raw(url: string, opts: { method?: string; headers?: Record<string, string> } = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? "GET", headers: opts.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

describe.each(DATABASES)("SF_ACCEL_REDIRECT: nginx sends local files (%s)", (kind) => {
  let t: TestServer;
  let alice: User;
  let s: Shared;
  const name = "Bericht Q4 «final».bin";
  const bytes = crypto.randomBytes(3 * MiB + 17);

  const key = async (fileId: string) => (await t.running.services.db("files").where({ id: fileId }).first()).storage_key as string;
  const downloads = async () =>
    ((await (await t.fetch(`/packages/${s.id}/events`, { token: alice.token })).json()) as { type: string }[]).filter((e) => e.type === "file_download").length;

  beforeAll(async () => {
    t = await startTestServer(kind, { env: { SF_ACCEL_REDIRECT: PREFIX } });
    alice = await t.createUser();
    s = await shareFiles(t, alice.token, [
      [name, bytes],
      ["b.txt", "bee"],
    ]);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a download answers X-Accel-Redirect with the attachment headers and no body bytes; HEAD and the zip are answered directly", async () => {
    const f = s.files[0]!;
    const k = await key(f.id);
    for (const url of [`${t.api}/packages/${s.id}/files/${f.id}`, `${s.api}/files/${f.id}`]) {
      const res = await raw(url, { headers: { Authorization: `Bearer ${alice.token}` } });
      expect(res.status).toBe(200);
      expect(res.headers["x-accel-redirect"]).toBe(`${PREFIX}${k.slice(0, 2)}/${k}`);
      expect(res.headers["content-disposition"]).toBe(attachmentDisposition(name));
      expect(res.headers["content-type"]).toBe(f.content_type);
      expect(res.headers["content-security-policy"]).toBe(DOWNLOAD_CSP);
      expect(res.body.length).toBe(0);
    }
    // the link download was counted when handed to nginx
    expect(await downloads()).toBe(1);

    const head = await raw(`${s.api}/files/${f.id}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers["x-accel-redirect"]).toBeUndefined();
    expect(head.headers["content-length"]).toBe(String(bytes.length));

    const zip = await raw(`${s.api}/archive`);
    expect(zip.headers["x-accel-redirect"]).toBeUndefined();
    expect(zip.body.subarray(0, 2).toString()).toBe("PK");
    expect(zip.body.includes(bytes.subarray(0, 4096))).toBe(true);
  });

  describe("through a real nginx", () => {
    let nginx: TestNginx;
    beforeAll(async () => {
      nginx = await startNginx({ upstream: t.url, accelPrefix: PREFIX, blobDir: path.join(t.dataDir, "blobs") });
    });
    afterAll(async () => {
      await nginx?.stop();
    });

    it("nginx sends the file byte for byte, by Range too, with our attachment headers; the internal location is not reachable from outside", async () => {
      const f = s.files[0]!;
      const before = await downloads();
      const whole = await raw(`${nginx.url}/api/v1/links/${s.secret}/files/${f.id}`);
      expect(whole.status).toBe(200);
      expect(sha256(whole.body)).toBe(sha256(bytes));
      expect(whole.headers["content-disposition"]).toBe(attachmentDisposition(name));
      expect(whole.headers["content-type"]).toBe(f.content_type);
      expect(whole.headers["x-content-type-options"]).toBe("nosniff");
      expect(whole.headers["content-security-policy"]).toBe(DOWNLOAD_CSP);
      expect(whole.headers["x-accel-redirect"]).toBeUndefined();
      expect(await downloads()).toBe(before + 1);

      const part = await raw(`${nginx.url}/api/v1/packages/${s.id}/files/${f.id}`, {
        headers: { Authorization: `Bearer ${alice.token}`, Range: `bytes=${MiB}-${MiB + 99}` },
      });
      expect(part.status).toBe(206);
      expect(part.headers["content-range"]).toBe(`bytes ${MiB}-${MiB + 99}/${bytes.length}`);
      expect(part.body).toEqual(bytes.subarray(MiB, MiB + 100));

      // The checks still happen in the server: no token, no file.
      const denied = await raw(`${nginx.url}/api/v1/packages/${s.id}/files/${f.id}`);
      expect(denied.status).toBe(401);
      // And the blobs' location is internal: asking for it directly is a 404 from nginx.
      const k = await key(f.id);
      expect((await raw(`${nginx.url}${PREFIX}${k.slice(0, 2)}/${k}`)).status).toBe(404);
    });

    it("a resume through nginx keeps our ETag: If-Range with the file's SHA-256 gets 206 and those bytes, a stale one the whole file", async () => {
      const f = s.files[0]!;
      const url = `${nginx.url}/api/v1/links/${s.secret}/files/${f.id}`;
      const etag = `"${sha256(bytes)}"`;
      const whole = await raw(url, { method: "GET" });
      expect(whole.headers.etag).toBe(etag);

      const resumed = await raw(url, { headers: { Range: "bytes=5-9", "If-Range": etag } });
      expect(resumed.status).toBe(206);
      expect(resumed.headers["content-range"]).toBe(`bytes 5-9/${bytes.length}`);
      expect(resumed.headers.etag).toBe(etag);
      expect(resumed.body).toEqual(bytes.subarray(5, 10));

      const stale = await raw(url, { headers: { Range: "bytes=5-9", "If-Range": `"${"0".repeat(64)}"` } });
      expect(stale.status).toBe(200);
      expect(stale.body.length).toBe(bytes.length);
    });

    it("nginx answers a Range as the server judged it: several ranges get the whole file (as counted), an unsatisfiable one 416", async () => {
      const f = s.files[0]!;
      const url = `${nginx.url}/api/v1/links/${s.secret}/files/${f.id}`;
      for (const range of ["bytes=0-9,20-29", "bytes=0-,0-,0-", `bytes=${Array.from({ length: 150 }, (_, i) => `${i}-${i}`).join(",")}`]) {
        const before = await downloads();
        const res = await raw(url, { headers: { Range: range } });
        expect(res.status, range.slice(0, 40)).toBe(200);
        expect(res.headers["content-range"]).toBeUndefined();
        expect(sha256(res.body)).toBe(sha256(bytes));
        // Ignored, the Range asked for the whole file: it counts as a download.
        expect(await downloads()).toBe(before + 1);
      }
      const past = await raw(url, { headers: { Range: `bytes=${bytes.length}-` } });
      expect(past.status).toBe(416);
      expect(past.headers["content-range"]).toBe(`bytes */${bytes.length}`);
    });
  });
});
