// Server processes killed with SIGKILL in the middle of an upload, beside live ones sharing the
// same data folder: what the dead one was writing is removed as soon as another process starts,
// or by a running one's sweeper, while a live process's upload in progress is never touched.
import crypto from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { closedPort, serverProcess, type Proc } from "@speedyfiles/test-utils/process";
import { createPgDatabase, DATABASES } from "@speedyfiles/test-utils/server";
import { exists, filesUnder, until } from "@speedyfiles/test-utils/uploads";

const MiB = 1024 * 1024;
const ADMIN = { email: "admin@example.com", password: "correct horse battery" };

interface Server {
  proc: Proc;
  base: string;
  token: string;
  pkg: string;
}

/** A multipart upload that sends its first 4 MiB and waits, until `finish` sends the rest. */
function uploadInProgress(s: Server) {
  const boundary = `----sftemp${crypto.randomBytes(6).toString("hex")}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big-${crypto.randomBytes(4).toString("hex")}.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const bytes = crypto.randomBytes(8 * MiB);
  const url = new URL(`${s.base}/api/v1/packages/${s.pkg}/files`);
  const req = http.request({
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: "POST",
    headers: {
      Authorization: `Bearer ${s.token}`,
      "Content-Type": `multipart/form-data; boundary=${boundary}`,
      "Content-Length": String(head.length + bytes.length + tail.length),
    },
  });
  const status = new Promise<number | "cut">((resolve) => {
    req.on("response", (r) => {
      r.resume();
      resolve(r.statusCode ?? 0);
    });
    req.on("error", () => resolve("cut"));
  });
  req.write(head);
  req.write(bytes.subarray(0, 4 * MiB));
  return {
    status,
    finish: () => {
      req.end(Buffer.concat([bytes.subarray(4 * MiB), tail]));
      return status;
    },
  };
}

describe.each(DATABASES)("each process's temp folder (%s)", (kind) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it("a process killed mid-upload leaves nothing once another starts or sweeps; a live process's upload is never touched", async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-temp-folders-"));
    cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
    const tmp = path.join(dataDir, "tmp");
    // On PostgreSQL every process shares the database; SQLite serves one process per database
    // file, so the processes that run beside the first one have databases of their own (the data
    // folder, and its tmp, is what they share).
    const pg = kind === "postgres" ? await createPgDatabase() : undefined;
    if (pg) cleanups.push(pg.drop);
    const dbOf = (name: string): Record<string, string> =>
      pg ? { SF_DATABASE_URL: pg.url } : name === "main" ? {} : { SF_DATABASE_URL: `sqlite://${path.join(dataDir, `${name}.db`)}` };

    const start = async (db: string, sweepSeconds = 0): Promise<Server> => {
      const port = await closedPort();
      const proc = serverProcess(["serve"], {
        SF_PORT: String(port),
        SF_DATA_DIR: dataDir,
        SF_ADMIN_EMAIL: ADMIN.email,
        SF_ADMIN_PASSWORD: ADMIN.password,
        SF_LOG_LEVEL: "warn",
        SF_SWEEP_INTERVAL_SECONDS: String(sweepSeconds),
        ...dbOf(db),
      });
      cleanups.push(async () => proc.kill("SIGKILL"));
      await proc.waitFor(/SpeedyFiles http/, 60_000);
      const base = `http://127.0.0.1:${port}`;
      const tokenRes = await fetch(`${base}/api/v1/auth/token`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ...ADMIN, name: "temp folders" }),
      });
      const { token } = (await tokenRes.json()) as { token: string };
      const pkgRes = await fetch(`${base}/api/v1/packages`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ title: "temp", recipient_email: "a@b.co", direction: "outbound", ttl_days: 1 }),
      });
      const { id } = (await pkgRes.json()) as { id: string };
      return { proc, base, token, pkg: id };
    };
    const parts = async () => (await filesUnder(tmp)).filter((f) => f.endsWith(".part"));
    /** Starts an upload to `s` and returns it with the path of the .part file it writes. */
    const startUpload = async (s: Server) => {
      const before = new Set(await parts());
      const upload = uploadInProgress(s);
      let part: string | undefined;
      await until(
        async () => {
          part = (await parts()).find((p) => !before.has(p));
          return part !== undefined;
        },
        15_000,
        "the upload's .part file",
      );
      return { ...upload, part: path.join(tmp, part!) };
    };
    /** The process's own folder under tmp (the .part's folder, when it is not tmp itself). */
    const folderOf = (part: string) => (path.dirname(part) === tmp ? undefined : path.dirname(part));

    // Two processes on one data folder, each receiving an upload.
    const a = await start("main");
    const b = await start("b");
    const upA = await startUpload(a);
    const upB = await startUpload(b);

    a.proc.kill("SIGKILL");
    expect(await a.proc.code).toBe(null);
    expect(await upA.status).toBe("cut");
    expect(await exists(upA.part)).toBe(true);

    // A new process on the same data folder: the dead one's temp folder is gone once it has started …
    const c = await start("main");
    expect(await exists(upA.part), "the killed process's .part after another process started").toBe(false);
    const folderA = folderOf(upA.part);
    if (folderA) expect(await exists(folderA)).toBe(false);
    // … and the live one's upload in progress is untouched and completes.
    expect(await exists(upB.part)).toBe(true);
    expect(await upB.finish()).toBe(201);

    // Without a restart: a process whose sweeper runs every second removes what a process killed
    // after it started left, and leaves a live process's upload alone.
    const d = await start("d", 1);
    const upC = await startUpload(c);
    const upB2 = await startUpload(b);
    c.proc.kill("SIGKILL");
    expect(await c.proc.code).toBe(null);
    await until(async () => !(await exists(upC.part)), 15_000, "the sweeper to remove the killed process's .part");
    const folderC = folderOf(upC.part);
    if (folderC) await until(async () => !(await exists(folderC)), 15_000, "the sweeper to remove the killed process's folder");
    // A few more sweeps, then the live upload completes.
    await new Promise((r) => setTimeout(r, 2500));
    expect(await exists(upB2.part)).toBe(true);
    expect(await upB2.finish()).toBe(201);
    // Nothing but the live processes' (empty) folders is left.
    expect(await parts()).toEqual([]);

    for (const s of [b, d]) s.proc.kill("SIGTERM");
    await Promise.all([b.proc.code, d.proc.code]);
  }, 240_000);
});
