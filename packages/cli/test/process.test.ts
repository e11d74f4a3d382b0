// The built `sf` as a real process: signals, dead servers, timeouts (issue 2.2 defects 2–4).
import fs from "node:fs/promises";
import path from "node:path";
import { SpeedyFiles } from "@speedyfiles/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "../../server/test/helpers/server.js";
import { tempDir } from "./helpers.js";
import { baseEnv, startSf, waitUntil } from "./proc.js";

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
  let env: Record<string, string>;
  let owner: SpeedyFiles;
  let link: string;

  beforeAll(async () => {
    t = await startTestServer(kind);
    const u = await t.createUser();
    owner = new SpeedyFiles({ baseUrl: t.url, token: u.token });
    home = await tempDir("sf-proc-");
    env = { ...baseEnv(home), SF_URL: t.url, SF_TOKEN: u.token };
    const pkg = await owner.packages.create({ title: "big", recipient_email: "a@b.co", direction: "outbound", ttl_days: 1 });
    for (let i = 0; i < 4; i++) await owner.uploadFile(pkg.id, blob(48 * 1024 * 1024, i + 7), { name: `big-${i}.bin` });
    link = (await owner.packages.finalize(pkg.id)).magic_link.replace(/^https?:\/\/[^/]+/, t.url);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await fs.rm(home, { recursive: true, force: true });
  });

  it("Ctrl-C during sf download exits 130 with one line, never a stack trace (6 runs)", async () => {
    for (let run = 0; run < 6; run++) {
      const out = path.join(home, `dl-${run}`);
      const p = startSf(["download", link, "-o", out], baseEnv(home));
      // Mid-transfer: some bytes are in a .part file.
      await waitUntil(async () => (await partFiles(out)) > run * 256 * 1024, 30_000, () => `no .part appeared; stderr: ${p.out.stderr}`);
      p.child.kill("SIGINT");
      const r = await p.done;
      expect({ run, code: r.code, stderr: r.stderr }).toEqual({ run, code: 130, stderr: expect.stringMatching(/^error: interrupted/m) });
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stderr).not.toContain("ERR_STREAM_DESTROYED");
    }
  }, 120_000);
});
