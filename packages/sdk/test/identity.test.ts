// How the client presents itself and guards its token: a private field, SF_TOKEN only with
// SF_URL, a User-Agent, a dispatcher option and the standard proxy variables.
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import path from "node:path";
import util from "node:util";
import * as undici from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { SpeedyFiles } from "../src/index.js";
import { VERSION } from "../src/version.js";
import { FAKE_USER, json, readBody, startFaultServer, type FaultHandler, type FaultServer } from "./helpers/fault-server.js";
import { sha256, tmpDir } from "./helpers/tmp.js";

const TOKEN = "sf_PRIVATEprivatePRIVATEprivatePRIVATEpriv12";
const PKG = "0b6f5c1e-2a11-4a7b-9a39-3f0c1c368a55";
const FILE = "1c7f4d2f-3b22-4b8c-8b4a-7c2f6d2f3b22";
const LINK = "L".repeat(43);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(handler: FaultHandler): Promise<FaultServer> {
  const f = await startFaultServer(handler);
  cleanups.push(() => f.close());
  return f;
}

/** Client ports of the requests the fake server answered, to tell proxied from direct ones. */
const clientPorts: number[] = [];

/** A fake SpeedyFiles server: /me, uploads, downloads, a link. */
const app: FaultHandler = async (req, res, seen) => {
  clientPorts.push(req.socket.remotePort!);
  const body = await readBody(req, seen);
  if (req.url === "/api/v1/me") return json(res, 200, FAKE_USER);
  if (req.url === `/api/v1/packages/${PKG}/files` && req.method === "POST") {
    const data = Buffer.from("hello");
    expect(body.includes(data)).toBe(true);
    return json(res, 201, { id: FILE, name: "a.txt", size: 5, sha256: sha256(data), content_type: "text/plain", created_at: "2026-11-27T10:00:00.000Z" });
  }
  if (req.url === `/api/v1/packages/${PKG}/files/${FILE}`) {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-disposition": "attachment", "content-length": "5" });
    return void res.end("hello");
  }
  if (req.url === `/api/v1/links/${LINK}`)
    return json(res, 200, {
      title: "t",
      message: null,
      direction: "outbound",
      sender_name: "A",
      sender_email: "a@b.co",
      recipient_name: null,
      expires_at: null,
      completed_at: null,
      file_count: 0,
      total_size: 0,
      files: [],
    });
  json(res, 404, { detail: "no" });
};

/**
 * A forward proxy: CONNECT tunnels (what undici's ProxyAgent uses) and absolute-form requests.
 * `ports` are the local ports of its connections to the target, `seen` what it was asked.
 */
async function startProxy(): Promise<{ url: string; seen: string[]; ports: Set<number> }> {
  const seen: string[] = [];
  const ports = new Set<number>();
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const up = http.request(new URL(req.url!), { method: req.method, headers: req.headers, agent: false }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    up.on("socket", (s) => s.on("connect", () => ports.add(s.localPort!)));
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  const tunnels = new Set<net.Socket>();
  server.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = req.url!.split(":");
    const up = net.connect(Number(port), host, () => {
      ports.add(up.localPort!);
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      up.write(head);
      up.pipe(client).pipe(up);
    });
    tunnels.add(client).add(up);
    up.on("error", () => client.destroy());
    client.on("error", () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const t of tunnels) t.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, ports };
}

function withEnv(vars: Record<string, string | undefined>): void {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  cleanups.push(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

describe("the token", () => {
  it("lives in a private field: console.log, util.inspect and JSON.stringify never show it", () => {
    const sf = new SpeedyFiles({ baseUrl: "http://127.0.0.1:9", token: TOKEN });
    expect(sf.hasToken).toBe(true);
    const views = [
      util.inspect(sf),
      util.inspect(sf, { depth: Infinity, showHidden: true, getters: true }),
      JSON.stringify(sf),
      String(Object.keys(sf)),
      JSON.stringify(Object.entries(sf)),
    ];
    for (const v of views) expect(v).not.toContain(TOKEN.slice(3, 20));
    expect((sf as unknown as Record<string, unknown>).token).toBeUndefined();
  });

  it("an explicit baseUrl never picks up SF_TOKEN; SF_URL with SF_TOKEN does", async () => {
    const f = await serve(app);
    withEnv({ SF_URL: f.url, SF_TOKEN: TOKEN });
    await new SpeedyFiles({ baseUrl: f.url }).me();
    expect(f.requests[0]!.headers.authorization).toBeUndefined();
    expect(new SpeedyFiles({ baseUrl: f.url }).hasToken).toBe(false);
    await new SpeedyFiles().me();
    expect(f.requests[1]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    // An explicit token with SF_URL is fine: the caller chose both.
    await new SpeedyFiles({ token: "sf_other" }).me();
    expect(f.requests[2]!.headers.authorization).toBe("Bearer sf_other");
  });
});

describe("User-Agent", () => {
  it("speedyfiles-sdk/<version> node/<version> on API calls, uploads, downloads and links", async () => {
    const f = await serve(app);
    const sf = new SpeedyFiles({ baseUrl: f.url, token: TOKEN });
    await sf.me();
    await sf.uploadFile(PKG, Buffer.from("hello"), { name: "a.txt" });
    await sf.downloadFile(PKG, FILE, path.join(await tmpDir(), "a.txt"), { sha256: sha256("hello") });
    await sf.links.get(`${f.url}/l/${LINK}`);
    expect(f.requests.map((r) => r.headers["user-agent"])).toEqual(Array(4).fill(`speedyfiles-sdk/${VERSION} node/${process.versions.node}`));
  });
});

describe("dispatcher and proxies", () => {
  it("a dispatcher option carries every request (here a ProxyAgent)", async () => {
    const f = await serve(app);
    const proxy = await startProxy();
    clientPorts.length = 0;
    const sf = new SpeedyFiles({ baseUrl: f.url, token: TOKEN, dispatcher: new undici.ProxyAgent(proxy.url) });
    await sf.me();
    await sf.uploadFile(PKG, Buffer.from("hello"), { name: "a.txt" });
    await sf.downloadFile(PKG, FILE, path.join(await tmpDir(), "a.txt"), { sha256: sha256("hello") });
    await sf.links.get(`${f.url}/l/${LINK}`);
    expect(proxy.seen.length).toBeGreaterThan(0);
    expect(proxy.seen.every((x) => x === `CONNECT ${new URL(f.url).host}`)).toBe(true);
    expect(clientPorts).toHaveLength(4);
    for (const port of clientPorts) expect(proxy.ports).toContain(port);
  });

  it("HTTP_PROXY is honoured, and NO_PROXY exempts a host", async () => {
    const f = await serve(app);
    const proxy = await startProxy();
    withEnv({ HTTP_PROXY: proxy.url, http_proxy: undefined, HTTPS_PROXY: undefined, https_proxy: undefined, NO_PROXY: undefined, no_proxy: undefined });
    clientPorts.length = 0;
    const sf = new SpeedyFiles({ baseUrl: f.url, token: TOKEN });
    await sf.me();
    await sf.uploadFile(PKG, Buffer.from("hello"), { name: "a.txt" });
    expect(clientPorts).toHaveLength(2);
    for (const port of clientPorts) expect(proxy.ports).toContain(port);

    withEnv({ NO_PROXY: "127.0.0.1" });
    await new SpeedyFiles({ baseUrl: f.url, token: TOKEN }).me();
    expect(clientPorts).toHaveLength(3);
    expect(proxy.ports).not.toContain(clientPorts[2]);
  });
});
