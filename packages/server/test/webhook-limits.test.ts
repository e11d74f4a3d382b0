import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError } from "@speedyfiles/test-utils/expect";
import { startReceiver, type Receiver } from "@speedyfiles/test-utils/receiver";
import { createPackage, until } from "@speedyfiles/test-utils/uploads";
import { coolOffMs } from "../src/webhooks/circuit.js";

const LOOPBACK = { SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1" };

describe.each(DATABASES)("webhook limits per user (%s)", (kind) => {
  let t: TestServer;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTestServer(kind, { clock: new TestClock({ ticking: true }), env: { ...LOOPBACK } });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  const create = (token: string, i: number) => t.fetch("/webhooks", { method: "POST", token, json: { url: `${receiver.url}/${i}`, events: ["package.created"] } });

  it("120 creations at once make no more than the 25 webhooks a user may have; the rest are 409 webhook_limit", async () => {
    const u = await t.createUser();
    const answers = await Promise.all(Array.from({ length: 120 }, (_, i) => create(u.token, i)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(25);
    expect(statuses.filter((s) => s === 409)).toHaveLength(95);
    await expectError(answers.find((r) => r.status === 409)!, 409, "webhook_limit");
    const listed = (await (await t.fetch("/webhooks", { token: u.token })).json()) as { id: string }[];
    expect(listed).toHaveLength(25);
    // Another user has a limit of their own; removing one makes room again.
    const other = await t.createUser();
    expect((await create(other.token, 0)).status).toBe(201);
    await expectError(await create(u.token, 200), 409, "webhook_limit");
    expect((await t.fetch(`/webhooks/${listed[0]!.id}`, { method: "DELETE", token: u.token })).status).toBe(204);
    expect((await create(u.token, 201)).status).toBe(201);
  });

  it("test pings are limited to 10 a minute per user: the 11th is 429 with Retry-After", async () => {
    const u = await t.createUser();
    const hook = (await (await create(u.token, 1)).json()) as { id: string };
    const second = (await (await create(u.token, 2)).json()) as { id: string };
    for (let i = 0; i < 10; i++) {
      expect((await t.fetch(`/webhooks/${(i % 2 === 0 ? hook : second).id}/test`, { method: "POST", token: u.token })).status).toBe(202);
    }
    const limited = await t.fetch(`/webhooks/${second.id}/test`, { method: "POST", token: u.token });
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    await expectError(limited, 429, "rate_limited");
    // Another user's pings are their own.
    const other = await t.createUser();
    const theirs = (await (await create(other.token, 3)).json()) as { id: string };
    expect((await t.fetch(`/webhooks/${theirs.id}/test`, { method: "POST", token: other.token })).status).toBe(202);
  });
});

describe.each(DATABASES)("the delivery pool (%s)", (kind) => {
  it("a receiver that never answers, with many events queued, does not hold up another user's events", async () => {
    const hole = await startReceiver();
    hole.answer("hang");
    const fast = await startReceiver();
    const t = await startTestServer(kind, {
      webhooks: true,
      clock: new TestClock({ ticking: true }),
      env: { ...LOOPBACK, SF_WEBHOOK_POLL_MS: "20", SF_WEBHOOK_TIMEOUT_SECONDS: "8" },
    });
    try {
      const a = await t.createUser();
      const b = await t.createUser();
      for (const [u, url] of [
        [a, hole.url],
        [b, fast.url],
      ] as const) {
        expect((await t.fetch("/webhooks", { method: "POST", token: u.token, json: { url, events: ["package.created"] } })).status).toBe(201);
      }
      for (let i = 0; i < 40; i++) await createPackage(t, a.token, { title: `a${i}` });
      await hole.waitFor(1);
      const started = Date.now();
      for (let i = 0; i < 5; i++) await createPackage(t, b.token, { title: `b${i}` });
      await fast.waitFor(5, 8000);
      expect(Date.now() - started).toBeLessThan(2500);
      // The black hole's events are still queued, not dropped.
      const pending = await t.running.services.db("webhook_deliveries").where({ state: "pending" }).count<{ n: number | string }[]>({ n: "*" });
      expect(Number(pending[0]!.n)).toBe(40);
    } finally {
      await hole.close();
      await t.close();
      await fast.close();
    }
  });
});

describe.each(DATABASES)("the circuit breaker per receiver (%s)", (kind) => {
  it("cools off for the configured time, doubled each time it opens again, at most an hour", () => {
    expect([1, 2, 3, 4].map((trip) => coolOffMs(60, trip))).toEqual([60_000, 120_000, 240_000, 480_000]);
    expect(coolOffMs(60, 30)).toBe(3600_000);
    expect(coolOffMs(7200, 3)).toBe(7200_000);
  });

  it("after 3 failures in a row the receiver's origin is left alone for a cool-off that grows; deliveries wait, then go", async () => {
    const r = await startReceiver();
    r.answer(500);
    const t = await startTestServer(kind, {
      webhooks: true,
      clock: new TestClock({ ticking: true }),
      env: {
        ...LOOPBACK,
        SF_WEBHOOK_POLL_MS: "20",
        SF_WEBHOOK_RETRY_SCHEDULE: Array(20).fill("0.05").join(","),
        SF_WEBHOOK_CIRCUIT_FAILURES: "3",
        SF_WEBHOOK_CIRCUIT_SECONDS: "1",
      },
    });
    const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
    try {
      const u = await t.createUser();
      const hook = (await (await t.fetch("/webhooks", { method: "POST", token: u.token, json: { url: r.url, events: ["package.created"] } })).json()) as { id: string };
      const get = async () => (await (await t.fetch(`/webhooks/${hook.id}`, { token: u.token })).json()) as { circuit_open_until: string | null };
      await createPackage(t, u.token, { title: "first" });
      await r.waitFor(3);
      await sleep(500);
      expect(r.received).toHaveLength(3);
      const open = await get();
      expect(Date.parse(open.circuit_open_until!)).toBeGreaterThan(Date.now());
      // An event while the circuit is open waits with the others.
      await createPackage(t, u.token, { title: "second" });
      await sleep(200);
      expect(r.received).toHaveLength(3);
      const log = async () => ((await (await t.fetch(`/webhooks/${hook.id}/deliveries`, { token: u.token })).json()) as { items: { state: string; attempts: number }[] }).items;
      expect((await log()).map((d) => d.state)).toEqual(["pending", "pending"]);
      // After the cool-off one more try; it fails, and the circuit opens again for longer (2 s).
      await r.waitFor(4, 3000);
      await until(async () => (await get()).circuit_open_until !== open.circuit_open_until, 3000, "the circuit open again");
      const reopened = await get();
      expect(Date.parse(reopened.circuit_open_until!) - Date.parse(open.circuit_open_until!)).toBeGreaterThan(1500);
      r.answer(200);
      await until(async () => (await log()).every((d) => d.state === "succeeded"), 6000, "both delivered once the receiver is back");
      expect(await get()).toMatchObject({ circuit_open_until: null });
    } finally {
      await t.close();
      await r.close();
    }
  });
});

type PathReply = number | "hang" | { status: number; delayMs: number };

/** One loopback receiver with a path per user: each path answers as told and records when it was reached. */
async function startPathReceiver() {
  const reached = new Map<string, number[]>();
  const replies = new Map<string, PathReply>();
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const p = req.url ?? "/";
      reached.set(p, [...(reached.get(p) ?? []), Date.now()]);
      const r = replies.get(p) ?? 200;
      if (r === "hang") {
        hanging.add(res);
        return;
      }
      const { status, delayMs } = typeof r === "number" ? { status: r, delayMs: 0 } : r;
      setTimeout(() => res.writeHead(status, { "Content-Type": "text/plain" }).end("answer"), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: (p: string) => `${base}${p}`,
    answer: (p: string, r: PathReply) => void replies.set(p, r),
    count: (p: string) => reached.get(p)?.length ?? 0,
    times: (p: string) => reached.get(p) ?? [],
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.each(DATABASES)("the circuit breaker is each owner's own (%s)", (kind) => {
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  let r: Awaited<ReturnType<typeof startPathReceiver>>;
  let t: TestServer;

  beforeAll(async () => {
    r = await startPathReceiver();
  });
  afterAll(async () => {
    await t?.close();
    await r?.close();
  });

  async function start(circuitSeconds: number) {
    await t?.close();
    t = await startTestServer(kind, {
      webhooks: true,
      clock: new TestClock({ ticking: true }),
      env: {
        ...LOOPBACK,
        SF_WEBHOOK_POLL_MS: "20",
        SF_WEBHOOK_TIMEOUT_SECONDS: "2",
        SF_WEBHOOK_RETRY_SCHEDULE: Array(20).fill("0.05").join(","),
        SF_WEBHOOK_CIRCUIT_FAILURES: "3",
        SF_WEBHOOK_CIRCUIT_SECONDS: String(circuitSeconds),
      },
    });
  }
  async function hookFor(token: string, url: string) {
    const res = await t.fetch("/webhooks", { method: "POST", token, json: { url, events: ["package.created"] } });
    expect(res.status).toBe(201);
    const id = ((await res.json()) as { id: string }).id;
    return { id, get: async () => (await (await t.fetch(`/webhooks/${id}`, { token })).json()) as { circuit_open_until: string | null } };
  }

  it("a user whose receiver fails trips only their own circuit: another user's receiver on the same origin gets its event at once, and sees no pause", async () => {
    await start(60);
    const a = await t.createUser();
    const b = await t.createUser();
    r.answer("/a-fails", 500);
    const hookA = await hookFor(a.token, r.url("/a-fails"));
    const hookB = await hookFor(b.token, r.url("/b-works"));
    await createPackage(t, a.token, { title: "a" });
    await until(async () => (await hookA.get()).circuit_open_until !== null, 5000, "A's circuit open");
    expect(r.count("/a-fails")).toBe(3);
    const started = Date.now();
    await createPackage(t, b.token, { title: "b" });
    await until(async () => r.count("/b-works") === 1, 3000, "B's event delivered while A's circuit is open");
    expect(Date.now() - started).toBeLessThan(3000);
    // The pause is A's to see, not B's.
    expect(await hookB.get()).toMatchObject({ circuit_open_until: null });
    expect(Date.parse((await hookA.get()).circuit_open_until!)).toBeGreaterThan(Date.now());
  });

  it("a receiver's 4xx answers are failed attempts (retried) but do not trip the circuit: only timeouts, connection errors and 5xx do", async () => {
    await start(60);
    const a = await t.createUser();
    r.answer("/a-404", 404);
    const hookA = await hookFor(a.token, r.url("/a-404"));
    await createPackage(t, a.token, { title: "a" });
    await until(async () => r.count("/a-404") >= 6, 4000, "six attempts: the 404s never paused the receiver");
    expect(await hookA.get()).toMatchObject({ circuit_open_until: null });
    const log = ((await (await t.fetch(`/webhooks/${hookA.id}/deliveries`, { token: a.token })).json()) as { items: { state: string; last_status_code: number }[] }).items;
    expect(log[0]).toMatchObject({ state: "pending", last_status_code: 404 });
  });

  it("after the cool-off exactly one delivery goes through as a probe; the others wait until it succeeds, then go", async () => {
    await start(1);
    const a = await t.createUser();
    r.answer("/a-probe", 500);
    const hookA = await hookFor(a.token, r.url("/a-probe"));
    // Two webhooks of A on the origin: up to four of A's deliveries could be in flight at once.
    await hookFor(a.token, r.url("/a-probe"));
    for (let i = 0; i < 4; i++) await createPackage(t, a.token, { title: `a${i}` });
    await until(async () => (await hookA.get()).circuit_open_until !== null, 5000, "A's circuit open");
    const openUntil = Date.parse((await hookA.get()).circuit_open_until!);
    await sleep(300); // attempts in flight when it opened have ended
    const before = r.count("/a-probe");
    // The receiver is back, slowly: the probe takes a second to answer.
    r.answer("/a-probe", { status: 200, delayMs: 1000 });
    await until(async () => r.count("/a-probe") > before, 4000, "the probe after the cool-off");
    const probeAt = r.times("/a-probe")[before]!;
    expect(probeAt).toBeGreaterThanOrEqual(openUntil - 50);
    await sleep(700);
    expect(r.count("/a-probe") - before).toBe(1);
    // Once the probe succeeded, the rest go.
    const deliveries = t.running.services.db("webhook_deliveries");
    await until(async () => (await deliveries.clone().whereNot({ state: "succeeded" })).length === 0, 8000, "every delivery succeeded");
  });
});
