// Two server processes on one PostgreSQL database and one data dir (as behind a load balancer):
// one request at a time writes to an upload (its lease in the database); a request of the same
// upload on the other process makes the one holding it let go, keeping what it stored.
import crypto from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createPgDatabase, DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { createPackage, sha256, stalledTusPatch } from "@speedyfiles/test-utils/uploads";

const MiB = 1024 * 1024;
const TUS = { "Tus-Resumable": "1.0.0" };

describe.runIf(DATABASES.includes("postgres"))("tus with two server processes (postgres)", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  /** Two server processes on one new PostgreSQL database and data folder, and a 2 MiB upload created on the first. */
  async function twoProcessesWithAnUpload(prefix: string, fileName: string) {
    const pg = await createPgDatabase();
    cleanups.push(pg.drop);
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
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
      headers: { ...TUS, "Upload-Length": String(bytes.length), "Upload-Metadata": `filename ${Buffer.from(fileName).toString("base64")}` },
    });
    const location = created.headers.get("location")!;
    return { dataDir, a, b, token, bytes, location };
  }

  it("one PATCH at a time per upload across processes: a second one makes the first let go (keeping what it stored), then writes", async () => {
    const { a, b, token, bytes, location } = await twoProcessesWithAnUpload("sf-tus-two-", "two.bin");

    // On A: a PATCH of the first MiB whose body is slow to come.
    const first = new Promise<{ status: number; offset: string | undefined } | "cut">((resolve) => {
      const req = http.request(`${a.url}${location}`, {
        method: "PATCH",
        headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream", "Content-Length": String(MiB) },
      });
      req.on("response", (res) => {
        res.resume();
        resolve({ status: res.statusCode!, offset: res.headers["upload-offset"] as string | undefined });
      });
      req.on("error", () => resolve("cut"));
      // Headers now (A takes the upload's lease), the bytes only after 5 s.
      req.flushHeaders();
      setTimeout(() => req.end(bytes.subarray(0, MiB)), 5000);
    });
    await new Promise((r) => setTimeout(r, 300));
    // On B, meanwhile: the same upload at offset 0. A lets go (its body has brought nothing yet:
    // it answers offset 0 and closes), and only then does B write.
    const started = Date.now();
    const second = await fetch(`${b.url}${location}`, {
      method: "PATCH",
      headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(bytes.subarray(0, MiB)),
    });
    expect(second.status).toBe(204);
    expect(second.headers.get("upload-offset")).toBe(String(MiB));
    expect(Date.now() - started).toBeLessThan(3000); // A's body was due only after 5 s: B did not wait for it
    const a1 = await first;
    if (a1 !== "cut") expect(a1).toEqual({ status: 204, offset: "0" });

    // The upload goes on, on either process, and the file is right.
    const last = await fetch(`${b.url}${location}`, {
      method: "PATCH",
      headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": String(MiB), "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(bytes.subarray(MiB)),
    });
    expect(last.status).toBe(200);
    expect(((await last.json()) as { sha256: string }).sha256).toBe(sha256(bytes));
  }, 60_000);

  it("a PATCH stalled on one process lets go when its owner comes back on the other: HEAD answers the stored offset, the upload resumes there", async () => {
    const { dataDir, a, b, token, bytes, location } = await twoProcessesWithAnUpload("sf-tus-stall-", "stall.bin");
    const stalled = await stalledTusPatch(a.url, token, location, bytes, 64 * 1024, path.join(dataDir, "uploads", location.split("/").pop()!));

    // Another user on B: refused, and A's request goes on.
    const other = (await b.createUser()).token;
    expect((await fetch(`${b.url}${location}`, { method: "HEAD", headers: { ...TUS, Authorization: `Bearer ${other}` } })).status).toBe(403);
    await new Promise((r) => setTimeout(r, 1500));
    expect(stalled.isClosed()).toBe(false);

    const started = Date.now();
    const h = await fetch(`${b.url}${location}`, { method: "HEAD", headers: { ...TUS, Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) });
    expect(h.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(h.headers.get("upload-offset")).toBe(String(64 * 1024));
    await stalled.closed;

    const last = await fetch(`${b.url}${location}`, {
      method: "PATCH",
      headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": String(64 * 1024), "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(bytes.subarray(64 * 1024)),
    });
    expect(last.status).toBe(200);
    expect(((await last.json()) as { sha256: string }).sha256).toBe(sha256(bytes));
  }, 60_000);
});
