import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { startReceiver, type Receiver } from "@speedyfiles/test-utils/receiver";
import { parseWebhookEvent } from "@speedyfiles/sdk";
import { sf } from "./helpers.js";

describe.each(DATABASES)("sf webhooks (%s)", (kind) => {
  let t: TestServer;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    t = await startTestServer(kind, {
      webhooks: true,
      clock: new TestClock({ ticking: true }),
      env: { SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1", SF_WEBHOOK_POLL_MS: "20" },
    });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  it("create, list, test, deliveries, redeliver, disable, enable, delete; ids by prefix", async () => {
    const u = await t.createUser();
    const env = { SF_URL: t.url, SF_TOKEN: u.token };
    const created = await sf(["webhooks", "create", receiver.url, "--event", "package.created", "--event", "package.deleted", "--description", "CI"], { env });
    expect(created.code, created.stderr).toBe(0);
    const secret = created.stdout.trim();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toContain("shown only this once");
    const id = /Created webhook ([0-9a-f-]{36})/.exec(created.stderr)![1]!;

    const list = await sf(["webhooks", "list"], { env });
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(receiver.url);
    expect(list.stdout).toContain("created,deleted");
    expect(list.stdout).not.toContain(secret);

    // A ping through an 8-character prefix, verified with the secret sf printed.
    const ping = await sf(["webhooks", "test", id.slice(0, 8)], { env });
    expect(ping.code, ping.stderr).toBe(0);
    await receiver.waitFor(1);
    const event = parseWebhookEvent(receiver.received[0]!.body, receiver.received[0]!.headers["speedyfiles-signature"] as string, secret);
    expect(event).toMatchObject({ type: "ping", data: { webhook: { id } } });

    // A real event, then the log.
    expect((await sf(["packages", "list"], { env })).code).toBe(0);
    await t.fetch("/packages", { method: "POST", token: u.token, json: { title: "Hooked", recipient_email: "x@acme.test", direction: "outbound", ttl_days: 1 } });
    await receiver.waitFor(2);
    let log = await sf(["webhooks", "deliveries", id.slice(0, 6), "--json"], { env });
    for (let i = 0; i < 50 && (JSON.parse(log.stdout) as { state: string }[]).some((d) => d.state !== "succeeded"); i++) {
      await new Promise((r) => setTimeout(r, 50));
      log = await sf(["webhooks", "deliveries", id.slice(0, 6), "--json"], { env });
    }
    const deliveries = JSON.parse(log.stdout) as { id: string; event_type: string; state: string; attempts: number }[];
    expect(deliveries.map((d) => [d.event_type, d.state, d.attempts])).toEqual([
      ["package.created", "succeeded", 1],
      ["ping", "succeeded", 1],
    ]);
    const table = await sf(["webhooks", "deliveries", id], { env });
    expect(table.stdout).toMatch(/package\.created\tsucceeded\t1\t200\t\d+ ms/);

    const again = await sf(["webhooks", "redeliver", id, deliveries[0]!.id], { env });
    expect(again.code, again.stderr).toBe(0);
    await receiver.waitFor(3);
    expect(JSON.parse(receiver.received[2]!.body).id).toBe(JSON.parse(receiver.received[1]!.body).id);

    expect((await sf(["webhooks", "disable", id], { env })).code).toBe(0);
    expect((await sf(["webhooks", "show", id, "--json"], { env })).stdout).toContain('"enabled": false');
    expect((await sf(["webhooks", "enable", id], { env })).code).toBe(0);
    const del = await sf(["webhooks", "delete", id], { env });
    expect(del.code, del.stderr).toBe(0);
    const gone = await sf(["webhooks", "show", id], { env });
    expect(gone.code).toBe(4);
  });

  it("says which flag is wrong, and refuses an unknown event before calling the server", async () => {
    const u = await t.createUser();
    const env = { SF_URL: t.url, SF_TOKEN: u.token };
    const bad = await sf(["webhooks", "create", receiver.url, "--event", "package.exploded"], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--event.*expected one of package\.created/);
    const ftp = await sf(["webhooks", "create", "ftp://example.com/x"], { env });
    expect(ftp.code).toBe(5);
    expect(ftp.stderr).toMatch(/<url>|http or https/);
  });
});
