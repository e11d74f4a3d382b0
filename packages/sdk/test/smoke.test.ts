import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "../../server/test/helpers/server.js";
import { SpeedyFiles, AuthenticationError } from "../src/index.js";

describe.each(DATABASES)("sdk smoke (%s)", (kind) => {
  let t: TestServer;
  beforeAll(async () => { t = await startTestServer(kind); });
  afterAll(async () => { await t?.close(); });

  it("sends a folder", async () => {
    const { token } = await t.createUser();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sdk-"));
    await fs.mkdir(path.join(dir, "out/sub"), { recursive: true });
    await fs.writeFile(path.join(dir, "out/a.txt"), "hello");
    await fs.writeFile(path.join(dir, "out/sub/b.bin"), Buffer.alloc(3_000_000, 7));
    const sf = new SpeedyFiles({ baseUrl: t.url, token });
    const events: number[] = [];
    const r = await sf.send({ files: [path.join(dir, "out")], to: "cfo@acme.com", onProgress: (p) => events.push(p.bytes) });
    expect(r.magic_link).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
    expect(r.package.files.map((f) => f.name).sort()).toEqual(["out/a.txt", "out/sub/b.bin"]);
    expect(events.at(-1)).toBe(3_000_005);
    const f = r.package.files.find((x) => x.name === "out/sub/b.bin")!;
    const dest = path.join(dir, "dl.bin");
    await sf.downloadFile(r.package.id, f.id, dest);
    expect((await fs.readFile(dest)).equals(Buffer.alloc(3_000_000, 7))).toBe(true);
    const bad = new SpeedyFiles({ baseUrl: t.url, token: "sf_nope" });
    await expect(bad.me()).rejects.toBeInstanceOf(AuthenticationError);
    await bad.me().catch((e) => { expect(e.method).toBe("GET"); expect(e.url).toContain("/api/v1/me"); expect(e.requestId).toBeTruthy(); });
  });
});
