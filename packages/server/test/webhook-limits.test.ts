import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError } from "@speedyfiles/test-utils/expect";
import { startReceiver, type Receiver } from "@speedyfiles/test-utils/receiver";
import { createPackage } from "@speedyfiles/test-utils/uploads";

const LOOPBACK = { SF_WEBHOOK_ALLOW_PRIVATE: "true" };

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
