import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError } from "@speedyfiles/test-utils/expect";
import { startReceiver, type Receiver } from "@speedyfiles/test-utils/receiver";

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
