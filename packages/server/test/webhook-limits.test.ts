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
