import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_WAITERS_PER_USER, waitingOn } from "../src/events/waiters.js";
import { serverProcess, type Proc } from "@speedyfiles/test-utils/process";
import { apiFetch, createPgDatabase, DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError } from "@speedyfiles/test-utils/expect";
import { shareFiles, type Shared } from "@speedyfiles/test-utils/links";
import { until } from "@speedyfiles/test-utils/uploads";

type Event = { id: string; type: string; cursor: string; link_id: string | null; file_id: string | null };

/** GET /packages/{id}/events with `query`; the events, the next cursor and how long it took. */
async function events(t: Pick<TestServer, "api">, token: string, id: string, query = "", signal?: AbortSignal) {
  const started = Date.now();
  const res = await apiFetch(t.api, `/packages/${id}/events${query}`, { token, ...(signal ? { signal } : {}) });
  if (res.status !== 200) throw new Error(`events: ${res.status} ${await res.text()}`);
  return { list: (await res.json()) as Event[], next: res.headers.get("speedyfiles-next-cursor")!, ms: Date.now() - started };
}

const download = async (api: string, fileId: string) => {
  const res = await fetch(`${api}/files/${fileId}`);
  expect(res.status).toBe(200);
  await res.arrayBuffer();
};

describe.each(DATABASES)("waiting for a package's events (%s)", (kind) => {
  let t: TestServer;
  let alice: Awaited<ReturnType<TestServer["createUser"]>>;
  let bob: Awaited<ReturnType<TestServer["createUser"]>>;
  let shared: Shared;

  beforeAll(async () => {
    t = await startTestServer(kind);
    [alice, bob] = await Promise.all([t.createUser(), t.createUser()]);
    shared = await shareFiles(t, alice.token, [
      ["a.txt", "alpha"],
      ["b.txt", "beta"],
    ]);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a cursor past any event number (up to the 15 digits the contract allows) answers no events, not 500", async () => {
    for (const after of ["2147483648", "10000000000", "999999999999999"]) {
      const past = await events(t, alice.token, shared.id, `?after=${after}`);
      expect(past.list).toEqual([]);
      expect(past.next).toBe(after);
    }
  });

  it("cursors: each event has one, after= answers only what is newer, the header carries the next one", async () => {
    const empty = await events(t, alice.token, shared.id);
    expect(empty.list).toEqual([]);
    expect(empty.next).toBe("0");
    await download(shared.api, shared.files[0]!.id);
    // A download is recorded once its last byte has left: ask with wait= for it (the long-poll).
    const one = await events(t, alice.token, shared.id, `?after=${empty.next}&wait=5`);
    expect(one.list.map((e) => e.type)).toEqual(["file_download"]);
    expect(one.next).toBe(one.list[0]!.cursor);
    await download(shared.api, shared.files[1]!.id);
    await download(shared.api, shared.files[0]!.id);
    let two = await events(t, alice.token, shared.id, `?after=${one.next}&wait=5`);
    for (let i = 0; i < 50 && two.list.length < 2; i++) two = await events(t, alice.token, shared.id, `?after=${one.next}&wait=1`);
    expect(two.list.map((e) => e.file_id)).toEqual([shared.files[0]!.id, shared.files[1]!.id]);
    expect(Number(two.next)).toBeGreaterThan(Number(one.next));
    // Nothing newer: empty, the cursor stays.
    const none = await events(t, alice.token, shared.id, `?after=${two.next}`);
    expect(none).toMatchObject({ list: [], next: two.next });
    // Without after: everything, newest first, as before.
    const all = await events(t, alice.token, shared.id);
    expect(all.list).toHaveLength(3);
    expect(all.list.map((e) => Number(e.cursor))).toEqual([...all.list.map((e) => Number(e.cursor))].sort((a, b) => b - a));
    expect(all.next).toBe(two.next);
    expect((await apiFetch(t.api, `/packages/${shared.id}/events?after=abc`, { token: alice.token })).status).toBe(422);
    expect((await apiFetch(t.api, `/packages/${shared.id}/events?wait=61`, { token: alice.token })).status).toBe(422);
  });

  it("wait=1 with nothing new answers an empty list after about a second", async () => {
    const { next } = await events(t, alice.token, shared.id);
    const r = await events(t, alice.token, shared.id, `?after=${next}&wait=1`);
    expect(r.list).toEqual([]);
    expect(r.next).toBe(next);
    expect(r.ms).toBeGreaterThanOrEqual(900);
    expect(r.ms).toBeLessThan(3000);
    expect(waitingOn(shared.id)).toBe(0);
  });

  it("a waiter answers as soon as a download through the link completes", async () => {
    const { next } = await events(t, alice.token, shared.id);
    const waiting = events(t, alice.token, shared.id, `?after=${next}&wait=20`);
    await until(() => waitingOn(shared.id) === 1, 5000, "the waiter");
    await download(shared.api, shared.files[1]!.id);
    const r = await waiting;
    expect(r.list.map((e) => e.type)).toEqual(["file_download"]);
    expect(r.ms).toBeLessThan(5000);
    expect(r.next).toBe(r.list[0]!.cursor);
  });

  it("unknown package 404, another user's 403, before any wait", async () => {
    await expectError(await apiFetch(t.api, `/packages/00000000-0000-4000-8000-000000000000/events?wait=5`, { token: alice.token }), 404, "package_not_found");
    const started = Date.now();
    await expectError(await apiFetch(t.api, `/packages/${shared.id}/events?wait=5`, { token: bob.token }), 403, "package_forbidden");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it(`a client that goes away frees its place; more than ${MAX_WAITERS_PER_USER} waiters of one user answer 429`, async () => {
    const carol = await t.createUser();
    const pkg = await shareFiles(t, carol.token, [["c.txt", "gamma"]]);
    const aborts = Array.from({ length: MAX_WAITERS_PER_USER }, () => new AbortController());
    const held = aborts.map((a) => events(t, carol.token, pkg.id, "?wait=30", a.signal).catch(() => undefined));
    await until(() => waitingOn(pkg.id) === MAX_WAITERS_PER_USER, 10_000, "the waiters");
    const extra = await apiFetch(t.api, `/packages/${pkg.id}/events?wait=30`, { token: carol.token });
    await expectError(extra, 429, "too_many_waiters");
    expect(extra.headers.get("retry-after")).toBe("1");
    // Another user is not affected; nor is a request that does not wait.
    expect((await events(t, alice.token, shared.id, "?after=999&wait=1")).list).toEqual([]);
    expect((await events(t, carol.token, pkg.id)).list).toEqual([]);
    for (const a of aborts) a.abort();
    await Promise.all(held);
    await until(() => waitingOn(pkg.id) === 0, 5000, "the waiters to leave");
    expect((await events(t, carol.token, pkg.id, "?wait=1")).list).toEqual([]);
  });
});

describe.runIf(DATABASES.includes("postgres"))("a waiter and a download in two server processes on one PostgreSQL database", () => {
  let dataDir: string;
  let db: { url: string; drop: () => Promise<void> };
  let t: TestServer;
  let other: Proc;
  let otherApi: string;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-wait-"));
    db = await createPgDatabase();
    t = await startTestServer("postgres", { dataDir, databaseUrl: db.url });
    other = serverProcess([], { SF_DATA_DIR: dataDir, SF_DATABASE_URL: db.url, SF_PORT: "0", SF_LOG_LEVEL: "warn" });
    const [, url] = await other.waitFor(/SpeedyFiles (http:\/\/127\.0\.0\.1:\d+)/, 30_000);
    otherApi = `${url!}/api/v1`;
  }, 60_000);
  afterAll(async () => {
    other?.kill("SIGTERM");
    await other?.code;
    await t?.close();
    await db?.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it("returns within about a second of a download served by the other process", async () => {
    const alice = await t.createUser();
    const shared = await shareFiles(t, alice.token, [["report.pdf", "%PDF-1.7"]]);
    const { next } = await events(t, alice.token, shared.id);
    const waiting = events(t, alice.token, shared.id, `?after=${next}&wait=30`);
    await until(() => waitingOn(shared.id) === 1, 5000, "the waiter");
    const downloaded = Date.now();
    await download(`${otherApi}/links/${shared.secret}`, shared.files[0]!.id);
    const r = await waiting;
    expect(r.list.map((e) => e.type)).toEqual(["file_download"]);
    expect(Date.now() - downloaded).toBeLessThan(1500);
  }, 60_000);
});
