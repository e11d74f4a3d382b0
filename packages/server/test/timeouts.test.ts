import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";

const HEADERS_MS = 1000;

/** Writes `parts` to a raw socket with `gapMs` between them; resolves with what came back and when. */
function dribble(url: string, parts: (string | Buffer)[], gapMs: number): Promise<{ response: string; closedAfterMs: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const sock = net.connect(Number(port), hostname);
    let response = "";
    sock.on("data", (c: Buffer) => (response += c.toString("latin1")));
    sock.on("error", () => undefined);
    sock.on("close", () => resolve({ response, closedAfterMs: Date.now() - started }));
    let i = 0;
    const next = () => {
      if (sock.destroyed) return;
      if (i < parts.length) {
        sock.write(parts[i++]!);
        setTimeout(next, gapMs);
      }
    };
    sock.on("connect", next);
    setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close after 20 s; got: ${response.slice(0, 200)}`));
    }, 20_000).unref();
  });
}

describe.each(DATABASES)("HTTP timeouts (%s)", (kind) => {
  let t: TestServer;
  let token: string;
  let pkgId: string;

  beforeAll(async () => {
    t = await startTestServer(kind, { timeouts: { headersMs: HEADERS_MS, checkIntervalMs: 200 } });
    token = (await t.createUser()).token;
    const res = await t.fetch("/packages", {
      method: "POST",
      token,
      json: { title: "slow", recipient_email: "a@b.co", direction: "outbound", ttl_days: 1 },
    });
    pkgId = ((await res.json()) as { id: string }).id;
  });
  afterAll(async () => {
    await t?.close();
  });

  it("cuts a client that never finishes its headers (slow-loris) with 408", async () => {
    const { response, closedAfterMs } = await dribble(
      t.url,
      ["GET /api/v1/health HTTP/1.1\r\n", "Host: x\r\n", "X-a: 1\r\n", "X-b: 1\r\n", "X-c: 1\r\n", "X-d: 1\r\n", "X-e: 1\r\n", "X-f: 1\r\n"],
      400,
    );
    expect(response).toMatch(/^HTTP\/1\.1 408/);
    expect(closedAfterMs).toBeLessThan(HEADERS_MS + 2500);
  });

  it("lets an upload whose body takes several times the header timeout finish", async () => {
    const boundary = "----slowupload";
    const payload = Buffer.alloc(64 * 1024, 7);
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`;
    const tail = `\r\n--${boundary}--\r\n`;
    const length = Buffer.byteLength(head) + payload.length + Buffer.byteLength(tail);
    const headers =
      `POST /api/v1/packages/${pkgId}/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;
    // 16 slices 250 ms apart: the body arrives over ~4 s, four times the header timeout.
    const slices = Array.from({ length: 16 }, (_, i) => payload.subarray(i * 4096, (i + 1) * 4096));
    const { response, closedAfterMs } = await dribble(t.url, [headers + head, ...slices, tail], 250);
    expect(closedAfterMs).toBeGreaterThan(3 * HEADERS_MS);
    expect(response).toMatch(/^HTTP\/1\.1 201/);
    expect(response).toContain('"name":"slow.bin"');
    expect(response).toContain(`"size":${payload.length}`);
  });
});
