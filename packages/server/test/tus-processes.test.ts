// Two server processes on one PostgreSQL database and one data dir (as behind a load balancer):
// a PATCH of an upload on one waits while another PATCH of the same upload runs on the other
// (the upload's lease in the database), then sees the offset that one left.
import crypto from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createPgDatabase, DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { createPackage, sha256 } from "@speedyfiles/test-utils/uploads";

const MiB = 1024 * 1024;
const TUS = { "Tus-Resumable": "1.0.0" };

describe.runIf(DATABASES.includes("postgres"))("tus with two server processes (postgres)", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it("one PATCH at a time per upload across processes: the second waits for the first, then gets 409 at the stale offset", async () => {
    const pg = await createPgDatabase();
    cleanups.push(pg.drop);
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-tus-two-"));
    cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
    const a: TestServer = await startTestServer("postgres", { databaseUrl: pg.url, dataDir });
    cleanups.push(() => a.close());
    const b: TestServer = await startTestServer("postgres", { databaseUrl: pg.url, dataDir });
    cleanups.push(() => b.close());

    const { token } = await a.createUser();
    const pkg = await createPackage(a, token);
    const bytes = crypto.randomBytes(2 * MiB);
    const created = await a.fetch(`/packages/${pkg.id}/uploads`, {
      method: "POST",
      token,
      headers: { ...TUS, "Upload-Length": String(bytes.length), "Upload-Metadata": `filename ${Buffer.from("two.bin").toString("base64")}` },
    });
    const location = created.headers.get("location")!;

    // On A: a PATCH of the first MiB whose body is slow to come.
    const first = new Promise<number>((resolve, reject) => {
      const req = http.request(`${a.url}${location}`, {
        method: "PATCH",
        headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream", "Content-Length": String(MiB) },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      // Headers now (A takes the upload's lease), the bytes only after 1.5 s.
      req.flushHeaders();
      setTimeout(() => req.end(bytes.subarray(0, MiB)), 1500);
    });
    await new Promise((r) => setTimeout(r, 300));
    // On B, meanwhile: the same upload at offset 0, still the stored offset: without the lease it
    // would be written at once (204), and A's bytes over it.
    const started = Date.now();
    const second = await fetch(`${b.url}${location}`, {
      method: "PATCH",
      headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(bytes.subarray(0, MiB)),
    });
    expect(await first).toBe(204);
    expect(second.status).toBe(409);
    expect(Date.now() - started).toBeGreaterThan(800); // it waited for A's PATCH to end

    // The upload goes on, on either process, and the file is right.
    const last = await fetch(`${b.url}${location}`, {
      method: "PATCH",
      headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": String(MiB), "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(bytes.subarray(MiB)),
    });
    expect(last.status).toBe(200);
    expect(((await last.json()) as { sha256: string }).sha256).toBe(sha256(bytes));
  }, 60_000);
});
