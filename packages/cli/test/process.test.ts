// The built `sf` as a real process: signals, dead servers, timeouts (what only a real process shows).
import crypto from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { SpeedyFiles } from "@speedyfiles/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { tempDir } from "./helpers.js";
import { spawn } from "node:child_process";
import { baseEnv, startSf, waitUntil } from "./proc.js";
import { fakePackage } from "@speedyfiles/test-utils/fixtures";

/** Pseudo-random bytes, cheap to make (a repeating pattern would compress in no test, but be safe). */
function blob(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
}

async function partFiles(dir: string): Promise<number> {
  const names = await fs.readdir(dir, { recursive: true }).catch(() => [] as string[]);
  let bytes = 0;
  for (const n of names.filter((x) => String(x).endsWith(".part"))) bytes += (await fs.stat(path.join(dir, String(n))).catch(() => ({ size: 0 }))).size;
  return bytes;
}

describe.each(DATABASES)("sf as a process (%s)", (kind) => {
  let t: TestServer;
  let home: string;
  let owner: SpeedyFiles;
  let link: string;

  beforeAll(async () => {
    t = await startTestServer(kind);
    const u = await t.createUser();
    owner = new SpeedyFiles({ baseUrl: t.url, token: u.token });
    home = await tempDir("sf-proc-");
    const pkg = await owner.packages.create({ title: "big", recipient_email: "a@b.co", direction: "outbound", ttl_days: 1 });
    for (let i = 0; i < 4; i++) await owner.uploadFile(pkg.id, blob(48 * 1024 * 1024, i + 7), { name: `big-${i}.bin` });
    link = (await owner.packages.finalize(pkg.id)).magic_link.replace(/^https?:\/\/[^/]+/, t.url);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await fs.rm(home, { recursive: true, force: true });
  });

  it("a server killed mid-send: sf names the draft it could not delete and the command that removes it", async () => {
    // The "server" sf talks to is a TCP proxy in its own process, killed with SIGKILL mid-send;
    // the real server behind it keeps the draft, as a crashed server's database would.
    const proxyJs = path.join(home, "proxy.mjs");
    await fs.writeFile(
      proxyJs,
      `import net from "node:net";
const [host, port] = process.argv[2].split(":");
const server = net.createServer((c) => {
  const u = net.connect(Number(port), host);
  c.pipe(u).pipe(c);
  c.on("error", () => u.destroy());
  u.on("error", () => c.destroy());
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));`,
    );
    const proxy = spawn(process.execPath, [proxyJs, new URL(t.url).host], { stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise<string>((resolve) => proxy.stdout.once("data", (c: Buffer) => resolve(c.toString().trim())));
    const viaProxy = `http://127.0.0.1:${port}`;

    const src = path.join(home, "sixteen");
    await fs.mkdir(src, { recursive: true });
    for (let i = 0; i < 16; i++) await fs.writeFile(path.join(src, `f${String(i).padStart(2, "0")}.bin`), blob(4 * 1024 * 1024, 100 + i));
    const { token } = await t.createUser();
    const mine = new SpeedyFiles({ baseUrl: t.url, token });
    const p = startSf(["send", src, "--to", "cfo@acme.com", "--concurrency", "2"], { ...baseEnv(home), SF_URL: viaProxy, SF_TOKEN: token });
    p.child.stdin.end();
    await p.waitForStderr(/^sent 2\/16 /m);
    proxy.kill("SIGKILL");
    const r = await p.done;

    expect(r.code).toBe(1);
    const drafts = (await mine.packages.list({ status: "draft" })).items;
    expect(drafts).toHaveLength(1);
    const id = drafts[0]!.id;
    expect(drafts[0]!.file_count).toBeGreaterThanOrEqual(2);
    const lines = r.stderr
      .trim()
      .split("\n")
      .filter((l) => !/^sent \d+\/16 /.test(l));
    expect(lines[0]).toMatch(/^error: cannot reach the SpeedyFiles server at http:\/\/127\.0\.0\.1:\d+ \((ECONN\w+|connection closed)\)/);
    expect(lines.slice(1).join("\n")).toMatch(new RegExp(`The unfinished package ${id} \\(\\d+ of 16 files, [\\d.]+ MiB uploaded\\) could not be deleted`));
    expect(lines.at(-1)).toBe(`  sf packages delete ${id} --yes`);
    expect(r.stderr).not.toMatch(/\n\s+at /);

    // The command it printed removes the draft (once the server is back: here, directly).
    const rm = startSf(["packages", "delete", id, "--yes"], { ...baseEnv(home), SF_URL: t.url, SF_TOKEN: token });
    rm.child.stdin.end();
    expect((await rm.done).code).toBe(0);
    expect((await mine.packages.list()).total).toBe(0);
  }, 120_000);

  it("Ctrl-C during sf download exits 130 with one line, never a stack trace (6 runs)", async () => {
    for (let run = 0; run < 6; run++) {
      const out = path.join(home, `dl-${run}`);
      const p = startSf(["download", link, "-o", out], baseEnv(home));
      // Mid-transfer: some bytes are in a .part file.
      await waitUntil(
        async () => (await partFiles(out)) > run * 256 * 1024,
        30_000,
        () => `no .part appeared; stderr: ${p.out.stderr}`,
      );
      p.child.kill("SIGINT");
      const r = await p.done;
      expect({ run, code: r.code, stderr: r.stderr }).toEqual({ run, code: 130, stderr: expect.stringMatching(/^error: interrupted/m) });
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stderr).not.toContain("ERR_STREAM_DESTROYED");
    }
  }, 120_000);
});

/** A TCP server that accepts connections and never says a word. */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("data", () => undefined);
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const DRAFT = fakePackage();

describe("time limits (no request waits forever)", () => {
  const TOKEN = `sf_${"T".repeat(43)}`;
  let home: string;
  beforeAll(async () => {
    home = await tempDir("sf-timeout-");
  });
  afterAll(async () => {
    await fs.rm(home, { recursive: true, force: true });
  });

  it("sf whoami against a server that never answers: --timeout ends it, naming the URL", async () => {
    const silent = await silentServer();
    try {
      const t0 = Date.now();
      const p = startSf(["whoami", "--timeout", "1"], { ...baseEnv(home), SF_URL: silent.url, SF_TOKEN: TOKEN });
      p.child.stdin.end();
      const r = await p.done;
      expect(r.code).toBe(1);
      expect(Date.now() - t0).toBeLessThan(8000);
      expect(r.stderr).toBe(`error: no answer from ${silent.url}/api/v1/me within 1 s — check the URL (--url, SF_URL or \`sf login\`) and your network\n`);
    } finally {
      await silent.close();
    }
  }, 30_000);

  it("sf send whose upload is never answered ends after SF_TIMEOUT seconds without progress, and deletes the draft", async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      // An older server: no policy to read first.
      if (req.url === "/api/v1/me/policy") return void res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ detail: "Not found", code: "not_found" }));
      if (req.method === "POST" && req.url === "/api/v1/packages") {
        req.resume();
        req.on("end", () => res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify(DRAFT)));
      } else if (req.method === "DELETE") {
        res.writeHead(204).end();
      }
      // The upload: read nothing, answer nothing.
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    try {
      const file = path.join(home, "payload.bin");
      await fs.writeFile(file, blob(32 * 1024 * 1024, 3));
      const t0 = Date.now();
      const p = startSf(["send", file, "--to", "a@b.co"], { ...baseEnv(home), SF_URL: url, SF_TOKEN: TOKEN, SF_TIMEOUT: "1" });
      p.child.stdin.end();
      const r = await p.done;
      expect(r.code).toBe(1);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(r.stderr).toMatch(new RegExp(`^error: upload of payload\\.bin to ${url}/api/v1/packages/${DRAFT.id}/files stalled: no progress for 1 s\\n$`));
      expect(seen).toContain(`DELETE /api/v1/packages/${DRAFT.id}`);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }, 30_000);

  it("sf send sends a big file in one request; SF_CHUNK_MIB caps each request (for a proxy that limits bodies)", async () => {
    // Just enough of the server's tus side to see the PATCH bodies sf sends.
    const size = 64 * 1024 * 1024 + 8;
    const file = path.join(home, "big-chunks.bin");
    const data = blob(size, 9);
    await fs.writeFile(file, data);
    const sha = crypto.createHash("sha256").update(data).digest("hex");
    const run = async (extra: Record<string, string>) => {
      const patches: number[] = [];
      let offset = 0;
      const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
            res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
          if (req.method === "POST" && req.url === "/api/v1/packages") return json(201, DRAFT);
          if (req.method === "POST" && req.url === `/api/v1/packages/${DRAFT.id}/uploads`) {
            return res.writeHead(201, { location: `/api/v1/packages/${DRAFT.id}/uploads/u1`, "tus-resumable": "1.0.0" }).end();
          }
          if (req.method === "PATCH") {
            const n = chunks.reduce((a, c) => a + c.length, 0);
            patches.push(n);
            offset += n;
            if (offset < size) return res.writeHead(204, { "upload-offset": String(offset), "tus-resumable": "1.0.0" }).end();
            return json(200, {
              id: "1c7f4d2f-3b22-4b8c-8b4a-7c2f6d2f3b22",
              name: "big-chunks.bin",
              size,
              sha256: sha,
              content_type: "application/octet-stream",
              created_at: DRAFT.created_at,
            });
          }
          // Finalize and the rest: refused; this test is about the uploads only.
          json(503, { detail: "not in this test" });
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      try {
        const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
        // The 503 for finalize ends the send at once: no retry window (this test is about the uploads).
        const p = startSf(["send", file, "--to", "a@b.co", "--restart"], { ...baseEnv(home), SF_URL: url, SF_TOKEN: TOKEN, SF_RETRY_WINDOW: "0", ...extra });
        p.child.stdin.end();
        await p.done;
        return patches;
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    };
    expect(await run({})).toEqual([size]);
    expect(await run({ SF_CHUNK_MIB: "32" })).toEqual([32 * 1024 * 1024, 32 * 1024 * 1024, 8]);
    const bad = startSf(["whoami"], { ...baseEnv(home), SF_URL: "http://127.0.0.1:9", SF_TOKEN: TOKEN, SF_CHUNK_MIB: "1.5" });
    bad.child.stdin.end();
    const rb = await bad.done;
    expect(rb.code).toBe(2);
    expect(rb.stderr).toContain('SF_CHUNK_MIB must be a whole number of MiB, at least 1 (got "1.5")');
  }, 60_000);

  it("an upload the server refuses before reading its body ends sf at once (not after the 60 s stall timer)", async () => {
    const file = path.join(home, "refused.bin");
    await fs.writeFile(file, blob(20 * 1024 * 1024, 11));
    const server = http.createServer((req, res) => {
      const json = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json", connection: "close" }).end(JSON.stringify(body));
      if (req.method === "POST" && req.url === "/api/v1/packages") {
        req.resume();
        return req.on("end", () => json(201, DRAFT));
      }
      if (req.method === "POST" && req.url === `/api/v1/packages/${DRAFT.id}/files`) {
        // As the real server does for a package over its quota: 413 before the body is read, then
        // the rest drained (closing under the client's body would hand it a reset, not the 413).
        req.resume();
        return res.writeHead(413, { "content-type": "application/json" }).end(JSON.stringify({ detail: "Package already holds the maximum of 1 files", code: "limit_exceeded" }));
      }
      req.resume();
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
      const t0 = Date.now();
      const p = startSf(["send", file, "--to", "a@b.co"], { ...baseEnv(home), SF_URL: url, SF_TOKEN: TOKEN });
      p.child.stdin.end();
      const r = await p.done;
      expect(r.stderr).toMatch(/maximum of 1 files/);
      expect(r.code).not.toBe(0);
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }, 90_000);

  it("a bad --timeout or SF_TIMEOUT is a usage error", async () => {
    const env = { ...baseEnv(home), SF_URL: "http://127.0.0.1:9", SF_TOKEN: TOKEN };
    const a = startSf(["whoami", "--timeout", "soon"], env);
    a.child.stdin.end();
    expect((await a.done).stderr).toContain('--timeout must be a number of seconds greater than 0 (got "soon")');
    const b = startSf(["whoami"], { ...env, SF_TIMEOUT: "0" });
    b.child.stdin.end();
    const rb = await b.done;
    expect(rb.code).toBe(2);
    expect(rb.stderr).toContain("SF_TIMEOUT must be a number of seconds");
  });
});
