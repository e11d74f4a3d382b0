// The storage quota under uploads at once: eight concurrent uploads (multipart, tus, both, and on
// PostgreSQL through two servers on one database) never take a user past quota_bytes_per_user, and
// the refused ones leave nothing behind.
import crypto from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgDatabase, DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { createPackage, filesUnder, until, uploadFile } from "@speedyfiles/test-utils/uploads";
import { requestFiles, uploadToLink } from "@speedyfiles/test-utils/links";
import { sweepOnce } from "../src/jobs/sweeper.js";

const KiB = 1024;
const FILE = 256 * KiB;
/** Room for three files and a half: three fit, whatever the order. */
const QUOTA = Math.floor(3.5 * FILE);
const TUS = { "Tus-Resumable": "1.0.0" };
const b64 = (s: string) => Buffer.from(s).toString("base64");

type User = Awaited<ReturnType<TestServer["createUser"]>>;

/** The codes of the answers, sorted (e.g. 201 ×3, quota_exceeded ×5). */
async function outcomes(responses: Response[]): Promise<string[]> {
  const out: string[] = [];
  for (const res of responses) {
    if (res.status < 300) {
      out.push(String(res.status));
      await res.arrayBuffer();
    } else {
      const body = (await res.json()) as { code: string; rule?: string; limit?: number };
      expect(res.status).toBe(422);
      if (body.code === "quota_exceeded") expect(body).toMatchObject({ rule: "quota_bytes_per_user", limit: QUOTA });
      out.push(body.code);
    }
  }
  return out.sort();
}

/** A tus upload of `bytes`: created, then sent in one PATCH; the creation's answer if refused. */
async function tusUpload(t: TestServer, token: string, base: string, name: string, bytes: Buffer): Promise<Response> {
  const created = await t.fetch(base, {
    method: "POST",
    token,
    headers: { ...TUS, "Upload-Length": String(bytes.length), "Upload-Metadata": `filename ${b64(name)}` },
  });
  if (created.status !== 201) return created;
  return fetch(`${t.url}${created.headers.get("location")}`, {
    method: "PATCH",
    headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" },
    body: new Uint8Array(bytes),
  });
}

/** A multipart upload whose length is not announced (chunked): the quota must be held while it streams. */
function chunkedUpload(t: TestServer, token: string, packageId: string, name: string, bytes: Buffer): Promise<Response> {
  const boundary = `----sfquota${crypto.randomBytes(6).toString("hex")}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const parts = [head, bytes.subarray(0, bytes.length / 2), bytes.subarray(bytes.length / 2), tail];
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      const next = parts.shift();
      if (next) {
        await new Promise((r) => setTimeout(r, 5));
        c.enqueue(new Uint8Array(next));
      } else c.close();
    },
  });
  return fetch(`${t.api}/packages/${packageId}/files`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": `multipart/form-data; boundary=${boundary}` },
    body,
    duplex: "half",
  } as RequestInit);
}

/** Four drafts of the user's: uploads into different packages share only the owner's quota. */
async function drafts(t: TestServer, u: User): Promise<string[]> {
  return Promise.all(Array.from({ length: 4 }, async () => (await createPackage(t, u.token)).id));
}

/** What a user holds: the API's figure, and the sum of their files' sizes in the database. */
async function held(t: TestServer, u: User) {
  const api = ((await (await t.fetch("/me/policy", { token: u.token })).json()) as { quota_used_bytes: number }).quota_used_bytes;
  const rows = await t.running.services.db("files as f").join("packages as p", "p.id", "f.package_id").where("p.owner_id", u.user.id).select<{ size: number | string }[]>("f.size");
  return { api, files: rows.reduce((n, r) => n + Number(r.size), 0), count: rows.length };
}

/** Blobs and temp files on disk, and quota reservations and unfinished uploads left in the database. */
async function leftovers(t: TestServer) {
  await until(async () => (await filesUnder(path.join(t.dataDir, "tmp"))).length === 0, 10_000, "tmp to be empty");
  return {
    blobs: (await filesUnder(path.join(t.dataDir, "blobs"))).length,
    reservations: (await t.running.services.db("quota_reservations")).length,
    openUploads: (await t.running.services.db("uploads").whereNull("completed_at")).length,
  };
}

describe.each(DATABASES)("the storage quota under concurrent uploads (%s)", (kind) => {
  let t: TestServer;
  let admin: User;

  beforeAll(async () => {
    t = await startTestServer(kind);
    admin = await t.createUser({ role: "admin" });
    const res = await t.fetch("/admin/policy", { method: "PUT", token: admin.token, json: { quota_bytes_per_user: QUOTA } });
    expect(res.status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("eight multipart uploads at once: three fit, five are refused before they are stored, nothing overshoots", async () => {
    const u = await t.createUser();
    const pkgs = await drafts(t, u);
    const before = await leftovers(t);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => uploadFile(t, u.token, pkgs[i % 4]!, `m${i}.bin`, crypto.randomBytes(FILE))));
    expect(await outcomes(answers)).toEqual(["201", "201", "201", ...Array(5).fill("quota_exceeded")]);
    const h = await held(t, u);
    expect(h).toEqual({ api: 3 * FILE, files: 3 * FILE, count: 3 });
    expect(await leftovers(t)).toEqual({ ...before, blobs: before.blobs + 3 });
  });

  it("eight tus uploads at once: the creations past the quota are refused, the others finish", async () => {
    const u = await t.createUser();
    const pkgs = await drafts(t, u);
    const before = await leftovers(t);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => tusUpload(t, u.token, `/packages/${pkgs[i % 4]}/uploads`, `t${i}.bin`, crypto.randomBytes(FILE))));
    expect(await outcomes(answers)).toEqual(["200", "200", "200", ...Array(5).fill("quota_exceeded")]);
    expect(await held(t, u)).toEqual({ api: 3 * FILE, files: 3 * FILE, count: 3 });
    expect(await leftovers(t)).toEqual({ ...before, blobs: before.blobs + 3 });
  });

  it("four of each at once, and through an inbound link: the owner's quota holds", async () => {
    const u = await t.createUser();
    const pkg = await createPackage(t, u.token);
    const req = await requestFiles(t, u.token, { recipient_email: "vendor@acme.com" });
    const answers = await Promise.all([
      ...Array.from({ length: 2 }, (_, i) => uploadFile(t, u.token, pkg.id, `m${i}.bin`, crypto.randomBytes(FILE))),
      ...Array.from({ length: 2 }, (_, i) => uploadToLink(req.api, `l${i}.bin`, crypto.randomBytes(FILE))),
      ...Array.from({ length: 2 }, (_, i) => tusUpload(t, u.token, `/packages/${pkg.id}/uploads`, `t${i}.bin`, crypto.randomBytes(FILE))),
      ...Array.from({ length: 2 }, (_, i) => tusUpload(t, u.token, `/links/${req.secret}/uploads`, `k${i}.bin`, crypto.randomBytes(FILE))),
    ]);
    const codes = await outcomes(answers);
    expect(codes.filter((c) => c === "quota_exceeded")).toHaveLength(5);
    const h = await held(t, u);
    expect(h).toEqual({ api: 3 * FILE, files: 3 * FILE, count: 3 });
    expect((await leftovers(t)).reservations).toBe(0);
  });

  it("eight uploads whose length is not announced: the room is held while they stream, no overshoot", async () => {
    const u = await t.createUser();
    const pkgs = await drafts(t, u);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => chunkedUpload(t, u.token, pkgs[i % 4]!, `c${i}.bin`, crypto.randomBytes(FILE))));
    const codes = await outcomes(answers);
    const stored = codes.filter((c) => c === "201").length;
    expect(stored).toBeGreaterThanOrEqual(1);
    expect(codes.filter((c) => c !== "201").every((c) => c === "quota_exceeded")).toBe(true);
    const h = await held(t, u);
    expect(h.files).toBeLessThanOrEqual(QUOTA);
    expect(h).toEqual({ api: stored * FILE, files: stored * FILE, count: stored });
    expect((await leftovers(t)).reservations).toBe(0);
  });

  it("an upload cut off midway gives its room back; a reservation whose process died lapses and is swept", async () => {
    const u = await t.createUser();
    const pkg = await createPackage(t, u.token);
    // Announces 3 files' worth, sends a little, and goes.
    const cut = http.request(`${t.api}/packages/${pkg.id}/files`, {
      method: "POST",
      headers: { Authorization: `Bearer ${u.token}`, "Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": String(3 * FILE) },
    });
    cut.on("error", () => undefined);
    cut.write(`--xyz\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n\r\n`);
    cut.write(Buffer.alloc(16 * KiB));
    await until(async () => (await t.running.services.db("quota_reservations").where({ user_id: u.user.id })).length === 1, 10_000, "the reservation");
    // Meanwhile the room is taken: one file no longer fits.
    expect((await uploadFile(t, u.token, pkg.id, "meanwhile.bin", crypto.randomBytes(FILE))).status).toBe(422);
    cut.destroy();
    await until(async () => (await t.running.services.db("quota_reservations").where({ user_id: u.user.id })).length === 0, 10_000, "the reservation to go");
    expect((await uploadFile(t, u.token, pkg.id, "after.bin", crypto.randomBytes(FILE))).status).toBe(201);

    // A process that died mid-upload left its reservation: it stops counting once its lease ends.
    const db = t.running.services.db;
    const now = t.clock.now();
    await db("quota_reservations").insert({
      id: crypto.randomUUID(),
      user_id: u.user.id,
      package_id: pkg.id,
      bytes: QUOTA,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + 10 * 60_000).toISOString(),
    });
    expect((await uploadFile(t, u.token, pkg.id, "blocked.bin", "x")).status).toBe(422);
    t.clock.advance(11 * 60_000);
    expect((await uploadFile(t, u.token, pkg.id, "free.bin", "x")).status).toBe(201);
    await sweepOnce(t.running.services);
    expect(await db("quota_reservations").where({ user_id: u.user.id })).toEqual([]);
  });
});

describe.runIf(DATABASES.includes("postgres"))("the policy and the quota with two servers on one database (postgres)", () => {
  const cleanups: (() => Promise<void>)[] = [];
  let a: TestServer;
  let b: TestServer;
  let admin: User;

  beforeAll(async () => {
    const pg = await createPgDatabase();
    cleanups.push(pg.drop);
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-quota-two-"));
    cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
    a = await startTestServer("postgres", { databaseUrl: pg.url, dataDir });
    cleanups.push(() => a.close());
    b = await startTestServer("postgres", { databaseUrl: pg.url, dataDir });
    cleanups.push(() => b.close());
    admin = await a.createUser({ role: "admin" });
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it("a policy changed on one server applies on the other within two seconds", async () => {
    const u = await a.createUser();
    const create = () => b.fetch("/packages", { method: "POST", token: u.token, json: { title: "x", recipient_email: "a@acme.com", direction: "outbound", ttl_days: 20 } });
    expect((await create()).status).toBe(201);
    const changed = Date.now();
    expect((await a.fetch("/admin/policy", { method: "PUT", token: admin.token, json: { max_ttl_days: 10 } })).status).toBe(200);
    let res: Response;
    for (;;) {
      res = await create();
      if (res.status !== 201) break;
      expect(Date.now() - changed).toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await res.json()).toMatchObject({ code: "policy_violation", rule: "max_ttl_days", limit: 10 });
    expect((await a.fetch("/admin/policy", { method: "PUT", token: admin.token, json: {} })).status).toBe(200);
  });

  it("eight uploads at once split across the two servers never pass the quota", async () => {
    expect((await a.fetch("/admin/policy", { method: "PUT", token: admin.token, json: { quota_bytes_per_user: QUOTA } })).status).toBe(200);
    // Both servers read the new policy (their caches last a second).
    await new Promise((r) => setTimeout(r, 1100));
    const u = await a.createUser();
    const pkgs = await drafts(a, u);
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => {
        const server = i % 2 === 0 ? a : b;
        return i < 4
          ? uploadFile(server, u.token, pkgs[i]!, `m${i}.bin`, crypto.randomBytes(FILE))
          : tusUpload(server, u.token, `/packages/${pkgs[i % 4]}/uploads`, `t${i}.bin`, crypto.randomBytes(FILE));
      }),
    );
    const codes = await outcomes(answers);
    expect(codes.filter((c) => c === "quota_exceeded")).toHaveLength(5);
    expect(await held(a, u)).toEqual({ api: 3 * FILE, files: 3 * FILE, count: 3 });
    expect(await a.running.services.db("quota_reservations")).toEqual([]);
  });
});
