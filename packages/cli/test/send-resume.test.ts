// `sf send` killed with SIGKILL mid-upload, then run again: it resumes.
import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { tempDir } from "./helpers.js";
import { baseEnv, runSf, startSf, waitUntil } from "./proc.js";

const MiB = 1024 * 1024;

describe.each(DATABASES)("sf send resumes after being killed (%s)", (kind) => {
  let t: TestServer;
  let home: string;
  let env: Record<string, string>;
  let userId: string;

  beforeAll(async () => {
    t = await startTestServer(kind);
    const u = await t.createUser();
    userId = u.user.id;
    home = await tempDir("sf-resume-");
    env = { ...baseEnv(home), SF_URL: t.url, SF_TOKEN: u.token, XDG_STATE_HOME: path.join(home, "state") };
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a rerun with the same arguments goes on with the same package and the bytes that had arrived", async () => {
    const dir = path.join(home, "data");
    await fs.mkdir(dir, { recursive: true });
    const big = path.join(dir, "big.bin");
    const fh = await fs.open(big, "w");
    const hash = crypto.createHash("sha256");
    for (let i = 0; i < 200; i++) {
      const b = crypto.randomBytes(MiB);
      hash.update(b);
      await fh.write(b);
    }
    await fh.close();
    await fs.writeFile(path.join(dir, "small.txt"), "hello");
    const args = ["send", dir, "--to", "cfo@acme.test"];
    const db = t.running.services.db;

    const first = startSf(args, env);
    // Killed once the server has stored 64 MiB of the big file (sf sends it in one request: the
    // bytes on disk, not the uploads row, say how far it got).
    const stored = async () => {
      const dir = path.join(t.dataDir, "uploads");
      const names = await fs.readdir(dir).catch(() => [] as string[]);
      const sizes = await Promise.all(
        names
          .filter((n) => !n.endsWith(".json"))
          .map((n) =>
            fs.stat(path.join(dir, n)).then(
              (st) => st.size,
              () => 0,
            ),
          ),
      );
      return Math.max(0, ...sizes);
    };
    await waitUntil(
      async () => (await stored()) >= 64 * MiB,
      60_000,
      () => `no 64 MiB arrived; stderr:\n${first.out.stderr}`,
    );
    first.child.kill("SIGKILL");
    const killed = await first.done;
    expect(killed.signal).toBe("SIGKILL");
    const packages = await db("packages").where({ owner_id: userId }).select("id", "status");
    expect(packages).toHaveLength(1);
    expect(packages[0]!.status).toBe("draft");
    const stateFiles = await fs.readdir(path.join(home, "state", "speedyfiles"));
    expect(stateFiles.filter((f) => f.endsWith(".json"))).toHaveLength(1);

    const second = await runSf(args, { env });
    expect(second.stderr).toMatch(/resumed at \d+ %/);
    const pct = Number(/resumed at (\d+) %/.exec(second.stderr)![1]);
    expect(pct).toBeGreaterThanOrEqual(31); // at least the 64 MiB seen stored, of 200 MiB
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/\/l\//);
    // The same package, finalized, with both files and the right SHA-256; no second package.
    const after = await db("packages").where({ owner_id: userId }).select("id", "status");
    expect(after).toEqual([{ id: packages[0]!.id, status: "active" }]);
    const files = await db("files").where({ package_id: packages[0]!.id }).select("name", "sha256").orderBy("name");
    expect(files.map((f: { name: string }) => f.name)).toEqual(["data/big.bin", "data/small.txt"]);
    expect(files.find((f: { name: string }) => f.name === "data/big.bin").sha256).toBe(hash.digest("hex"));
    // Done: the state is gone, so the next send of these files is a new one.
    expect((await fs.readdir(path.join(home, "state", "speedyfiles"))).filter((f) => f.endsWith(".json"))).toEqual([]);
  }, 180_000);

  it("Ctrl-C (SIGINT) keeps the draft as SIGTERM does: the rerun resumes the same package and sends no finished file again", async () => {
    const dir = path.join(home, "ctrl-c");
    await fs.mkdir(dir, { recursive: true });
    // Small files finish first (one at a time); the big one is still on its way at Ctrl-C.
    for (let i = 0; i < 3; i++) await fs.writeFile(path.join(dir, `s${i}.txt`), `small ${i}`);
    const fh = await fs.open(path.join(dir, "zbig.bin"), "w");
    for (let i = 0; i < 120; i++) await fh.write(crypto.randomBytes(MiB));
    await fh.close();
    const args = ["send", dir, "--to", "cfo@acme.test", "--concurrency", "1"];
    const db = t.running.services.db;
    const before = new Set((await db("packages").where({ owner_id: userId }).select("id")).map((p: { id: string }) => p.id));
    const ours = async () => (await db("packages").where({ owner_id: userId }).select("id", "status")).filter((p: { id: string }) => !before.has(p.id));

    const first = startSf(args, env);
    first.child.stdin.end();
    await first.waitForStderr(/^sent 3\/4 /m, 60_000);
    // Mid-upload of the big file: some of its bytes have arrived.
    const uploads = path.join(t.dataDir, "uploads");
    await waitUntil(
      async () => {
        const names = await fs.readdir(uploads).catch(() => [] as string[]);
        const sizes = await Promise.all(
          names
            .filter((n) => !n.endsWith(".json"))
            .map((n) =>
              fs.stat(path.join(uploads, n)).then(
                (st) => st.size,
                () => 0,
              ),
            ),
        );
        return sizes.some((n) => n >= 16 * MiB);
      },
      60_000,
      () => `the big file never started; stderr:\n${first.out.stderr}`,
    );
    first.child.kill("SIGINT");
    const stopped = await first.done;
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toContain("stopped; run the same command to resume, or add `--restart`");
    expect(stopped.stderr).not.toMatch(/\n\s+at /);
    const drafts = await ours();
    expect(drafts).toHaveLength(1);
    expect(drafts[0]!.status).toBe("draft");
    const id = drafts[0]!.id;
    expect(stopped.stderr).toContain(`sf packages delete ${id}`);
    const filesBefore = await db("files").where({ package_id: id }).select("id", "name").orderBy("name");
    expect(filesBefore.map((f: { name: string }) => f.name)).toEqual(["ctrl-c/s0.txt", "ctrl-c/s1.txt", "ctrl-c/s2.txt"]);

    const second = await runSf(args, { env });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/resumed at \d+ %/);
    // Only the big file was sent in this run.
    expect(second.stderr).not.toMatch(/^sent \d+\/4 ctrl-c\/s/m);
    expect(await ours()).toEqual([{ id, status: "active" }]);
    const filesAfter = await db("files").where({ package_id: id }).select("id", "name").orderBy("name");
    expect(filesAfter.slice(0, 3)).toEqual(filesBefore);
    expect(filesAfter.map((f: { name: string }) => f.name)).toEqual(["ctrl-c/s0.txt", "ctrl-c/s1.txt", "ctrl-c/s2.txt", "ctrl-c/zbig.bin"]);
  }, 180_000);
});
