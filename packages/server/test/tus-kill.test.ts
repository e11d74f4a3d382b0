// The server killed with SIGKILL in the middle of a tus PATCH, then started again: the upload
// resumes from the offset the store has, and the file's SHA-256 is right (the hash state, lost
// with the process, is rebuilt from the stored bytes).
import crypto from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { closedPort, serverProcess, type Proc } from "@speedyfiles/test-utils/process";
import { createPgDatabase, DATABASES } from "@speedyfiles/test-utils/server";

const MiB = 1024 * 1024;
const SIZE = 160 * MiB;

/** Deterministic bytes of the file at [start, end), a MiB at a time. */
function* bytesOf(seed: Buffer, start: number, end: number): Generator<Buffer> {
  for (let i = Math.floor(start / MiB); i * MiB < end; i++) {
    const block = crypto.createHash("sha512").update(seed).update(String(i)).digest();
    const mib = Buffer.alloc(MiB);
    for (let j = 0; j < MiB; j += block.length) block.copy(mib, j);
    const from = Math.max(start, i * MiB) - i * MiB;
    const to = Math.min(end, (i + 1) * MiB) - i * MiB;
    yield mib.subarray(from, to);
  }
}

/** A PATCH whose body is written chunk by chunk; `onSent` sees the running count. */
function patch(url: string, token: string, offset: number, chunks: Iterable<Buffer>, length: number, onSent?: (n: number) => void) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request(url, {
      method: "PATCH",
      headers: {
        "Tus-Resumable": "1.0.0",
        Authorization: `Bearer ${token}`,
        "Upload-Offset": String(offset),
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": String(length),
      },
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", reject);
    let sent = 0;
    const it = chunks[Symbol.iterator]();
    const pump = () => {
      for (;;) {
        const n = it.next();
        if (n.done) return void req.end();
        sent += n.value.length;
        onSent?.(sent);
        if (!req.write(n.value)) return void req.once("drain", pump);
      }
    };
    pump();
  });
}

describe.each(DATABASES)("tus survives kill -9 of the server (%s)", (kind) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it("resumes from the stored offset after a SIGKILL mid-PATCH, with the right SHA-256", async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-tus-kill-"));
    cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
    const pg = kind === "postgres" ? await createPgDatabase() : undefined;
    if (pg) cleanups.push(pg.drop);
    const port = await closedPort();
    const base = `http://127.0.0.1:${port}`;
    const env = {
      SF_PORT: String(port),
      SF_DATA_DIR: dataDir,
      SF_ADMIN_EMAIL: "admin@example.com",
      SF_ADMIN_PASSWORD: "correct horse battery",
      SF_LOG_LEVEL: "warn",
      ...(pg ? { SF_DATABASE_URL: pg.url } : {}),
    };
    const start = async (): Promise<Proc> => {
      const p = serverProcess(["serve"], env);
      cleanups.push(async () => p.kill("SIGKILL"));
      await p.waitFor(/SpeedyFiles http/, 60_000);
      return p;
    };
    let server = await start();
    const tokenRes = await fetch(`${base}/api/v1/auth/token`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: "admin@example.com", password: "correct horse battery", name: "kill test" }),
    });
    const { token } = (await tokenRes.json()) as { token: string };
    const auth = { Authorization: `Bearer ${token}` };
    const pkg = (await (
      await fetch(`${base}/api/v1/packages`, {
        method: "POST",
        headers: { ...auth, "Content-Type": "application/json" },
        body: JSON.stringify({ title: "kill", recipient_email: "a@b.co", direction: "outbound", ttl_days: 1 }),
      })
    ).json()) as { id: string };

    const seed = crypto.randomBytes(16);
    const expected = crypto.createHash("sha256");
    for (const b of bytesOf(seed, 0, SIZE)) expected.update(b);
    const created = await fetch(`${base}/api/v1/packages/${pkg.id}/uploads`, {
      method: "POST",
      headers: { ...auth, "Tus-Resumable": "1.0.0", "Upload-Length": String(SIZE), "Upload-Metadata": `filename ${Buffer.from("killed.bin").toString("base64")}` },
    });
    expect(created.status).toBe(201);
    const url = `${base}${created.headers.get("location")}`;

    // First PATCH completes a 40 MiB chunk (the hash state is in memory now) …
    expect((await patch(url, token, 0, bytesOf(seed, 0, 40 * MiB), 40 * MiB)).status).toBe(204);
    // … the second is cut by kill -9 of the server after ~100 MiB in all.
    let killed = false;
    await patch(url, token, 40 * MiB, bytesOf(seed, 40 * MiB, SIZE), SIZE - 40 * MiB, (n) => {
      if (!killed && n > 60 * MiB) {
        killed = true;
        server.kill("SIGKILL");
      }
    }).catch(() => undefined);
    expect(await server.code).toBe(null);

    server = await start();
    const head = await fetch(url, { method: "HEAD", headers: { ...auth, "Tus-Resumable": "1.0.0" } });
    expect(head.status).toBe(200);
    const offset = Number(head.headers.get("upload-offset"));
    // What had reached the disk is kept: more than the first chunk, less than everything sent.
    expect(offset).toBeGreaterThanOrEqual(40 * MiB);
    expect(offset).toBeLessThan(SIZE);

    const rest = await patch(url, token, offset, bytesOf(seed, offset, SIZE), SIZE - offset);
    expect(rest.status).toBe(200);
    const file = JSON.parse(rest.body) as { sha256: string; size: number };
    expect(file).toMatchObject({ size: SIZE, sha256: expected.digest("hex") });
    server.kill("SIGTERM");
    await server.code;
  }, 240_000);
});
