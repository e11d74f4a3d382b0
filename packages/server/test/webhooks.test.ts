import crypto from "node:crypto";
import dns from "node:dns/promises";
import fs from "node:fs/promises";
import os from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgDatabase, DATABASES, startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { expectError, expectValidationError } from "@speedyfiles/test-utils/expect";
import { createPackage, until } from "@speedyfiles/test-utils/uploads";
import { finalize, requestFiles, shareFiles, uploadToLink } from "@speedyfiles/test-utils/links";
import { startReceiver, type Receiver, type Received } from "@speedyfiles/test-utils/receiver";
import { sweepOnce } from "../src/jobs/sweeper.js";
import { deliverDue } from "../src/jobs/webhook-worker.js";
import { postWebhook, refusedAddress } from "../src/webhooks/sender.js";
import { allowListOf, isForbiddenAddress } from "../src/webhooks/addresses.js";
import { ConfigError, loadConfig } from "../src/config.js";
import { retryDelayMs } from "../src/webhooks/schedule.js";
import { parseWebhookEvent, verifyWebhookSignature, WebhookSignatureError, type WebhookEvent } from "../../sdk/src/webhooks.js";

type User = Awaited<ReturnType<TestServer["createUser"]>>;
const ALL_EVENTS = ["package.created", "package.finalized", "package.downloaded", "package.uploaded", "package.completed", "package.revoked", "package.expired", "package.deleted"];

describe("the webhook address classifier", () => {
  it("refuses loopback, private, link-local, CGNAT, metadata and reserved addresses, in every spelling", () => {
    const forbidden = [
      "127.0.0.1",
      "127.255.255.254",
      "10.1.2.3",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "100.64.0.1",
      "100.127.255.255",
      "169.254.169.254",
      "169.254.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "255.255.255.255",
      "198.18.0.1",
      "::1",
      "::",
      "fe80::1",
      "fc00::1",
      "fd00:ec2::254",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "::ffff:10.0.0.1",
      "::ffff:169.254.169.254",
      "64:ff9b::a9fe:a9fe",
      "2002:7f00:1::",
      "[::1]",
      "not-an-ip",
      // IPv6 forms that carry an IPv4 address: translated, compatible, NAT64, 6to4, Teredo.
      "::ffff:0:7f00:1",
      "::ffff:0:a9fe:a9fe",
      "::ffff:0:808:808",
      "::7f00:1",
      "::127.0.0.1",
      "64:ff9b::7f00:1",
      "64:ff9b::127.0.0.1",
      "64:ff9b:1::a00:1",
      "2002:a9fe:a9fe::1",
      "2001:0:4136:e378:8000:63bf:3fff:fdd2",
      "::ffff:0.0.0.0",
      "fe80::",
      "fc00::",
      "fdff:ffff::1",
      "ff0e::1",
      "100::1",
      "3fff::1",
      "1::1",
    ];
    for (const a of forbidden) expect({ a, forbidden: isForbiddenAddress(a) }).toEqual({ a, forbidden: true });
    for (const a of ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::6810:85e5", "2a00:1450:4001:80b::200e", "::ffff:93.184.216.34", "::ffff:5db8:d822"]) {
      expect({ a, forbidden: isForbiddenAddress(a) }).toEqual({ a, forbidden: false });
    }
  });

  it("sees decimal, hex and octal IPv4 hosts as what they are (the URL parser normalises them)", () => {
    for (const u of ["http://2130706433/", "http://0x7f000001/", "http://0x7f.1/", "http://0177.0.0.1/", "http://127.1/", "http://0/"]) {
      const host = new URL(u).hostname;
      expect({ u, host, forbidden: isForbiddenAddress(host) }).toEqual({ u, host, forbidden: true });
    }
  });

  it("retries on a schedule with jitter, then gives up", () => {
    const schedule = [10, 30, 120];
    expect(retryDelayMs(schedule, 1, () => 0)).toBe(8000);
    expect(retryDelayMs(schedule, 1, () => 1)).toBe(12_000);
    expect(retryDelayMs(schedule, 3, () => 0.5)).toBe(120_000);
    expect(retryDelayMs(schedule, 4)).toBeUndefined();
  });

  it("refuses a DNS answer with a private address in any IPv6 spelling, even when the IPv4 address is on the allow-list", () => {
    const allow = allowListOf("127.0.0.1,10.0.0.0/8,hooks.internal");
    for (const address of [
      "::ffff:0:7f00:1",
      "::7f00:1",
      "64:ff9b::7f00:1",
      "64:ff9b::a00:5",
      "2002:7f00:1::",
      "2002:a00:5::",
      "::ffff:0:a00:5",
      "fe80::1",
      "fd00:ec2::254",
      "::",
      "ff02::1",
      "127.0.0.2",
      "169.254.169.254",
    ]) {
      const refused = refusedAddress("receiver.example", [{ address, family: address.includes(":") ? 6 : 4 }], allow);
      expect({ address, refused }).toEqual({ address, refused: address });
    }
    // What the list names passes, in the spellings that are the same address.
    for (const address of ["127.0.0.1", "::ffff:127.0.0.1", "10.1.2.3", "::ffff:a01:203", "93.184.216.34"]) {
      expect({ address, refused: refusedAddress("receiver.example", [{ address, family: address.includes(":") ? 6 : 4 }], allow) }).toEqual({ address, refused: undefined });
    }
    // A name on the list may resolve to a private address; one address refused refuses the name.
    expect(refusedAddress("hooks.internal", [{ address: "192.168.5.5", family: 4 }], allow)).toBeUndefined();
    expect(
      refusedAddress(
        "receiver.example",
        [
          { address: "93.184.216.34", family: 4 },
          { address: "::1", family: 6 },
        ],
        allow,
      ),
    ).toBe("::1");
  });

  it("SF_WEBHOOK_ALLOW_HOSTS takes host names and CIDRs; the removed SF_WEBHOOK_ALLOW_PRIVATE stops the start with a message naming it", () => {
    expect(loadConfig({ SF_WEBHOOK_ALLOW_HOSTS: " 127.0.0.1, ::1 ,10.0.0.0/8,fd00::/8,Hooks.Internal., ci-runner" }).webhookAllowHosts).toEqual({
      names: ["hooks.internal", "ci-runner"],
      networks: [
        { address: "127.0.0.1", prefix: 32, family: "ipv4" },
        { address: "::1", prefix: 128, family: "ipv6" },
        { address: "10.0.0.0", prefix: 8, family: "ipv4" },
        { address: "fd00::", prefix: 8, family: "ipv6" },
      ],
    });
    for (const bad of ["10.0.0.0/33", "::1/129", "not a host", "http://x.test/", "1.2.3.4/x", "*"]) {
      expect(() => loadConfig({ SF_WEBHOOK_ALLOW_HOSTS: bad }), bad).toThrow(/SF_WEBHOOK_ALLOW_HOSTS/);
    }
    expect(() => loadConfig({ SF_WEBHOOK_ALLOW_PRIVATE: "true" })).toThrow(ConfigError);
    expect(() => loadConfig({ SF_WEBHOOK_ALLOW_PRIVATE: "true" })).toThrow(/SF_WEBHOOK_ALLOW_PRIVATE.*removed.*SF_WEBHOOK_ALLOW_HOSTS/);
    // Set to false, it asked for nothing: an old .env that copied the example still starts.
    expect(loadConfig({ SF_WEBHOOK_ALLOW_PRIVATE: "false" }).webhookAllowHosts).toEqual({ names: [], networks: [] });
  });

  it("checks the address actually connected to: a name that resolves to loopback is refused at connect time", async () => {
    // A name other than "localhost" that this machine resolves to a loopback address (its own host
    // name, or another alias from /etc/hosts): the URL check cannot see it, the lookup must.
    const hosts = await fs.readFile("/etc/hosts", "utf8").catch(() => "");
    const candidates = [os.hostname(), ...hosts.split("\n").flatMap((l) => (/^127\./.test(l) ? l.trim().split(/\s+/).slice(1) : []))];
    let name: string | undefined;
    for (const c of candidates) {
      if (/localhost/i.test(c)) continue;
      const found = await dns.lookup(c).catch(() => undefined);
      if (found && isForbiddenAddress(found.address)) {
        name = c;
        break;
      }
    }
    expect(name, "a non-localhost name resolving to loopback (the host name or an /etc/hosts alias)").toBeDefined();
    const receiver = await startReceiver();
    try {
      const port = new URL(receiver.url).port;
      const refused = await postWebhook(`http://${name}:${port}/hook`, {}, "{}", { timeoutMs: 2000, allow: allowListOf("") });
      expect(refused).toMatchObject({ ok: false, statusCode: null });
      expect(refused.error).toMatch(/private or reserved/);
      // Another name on the list does not let this one through.
      expect(await postWebhook(`http://${name}:${port}/hook`, {}, "{}", { timeoutMs: 2000, allow: allowListOf("hooks.internal,10.0.0.0/8") })).toMatchObject({ ok: false });
      expect(receiver.received).toHaveLength(0);
      // Named on the allow-list (or its address), the same name reaches the receiver; what the
      // receiver answered is not kept: status and timing only.
      for (const allow of [name!, "127.0.0.0/8,::1"]) {
        const sent = await postWebhook(`http://${name}:${port}/hook`, {}, "{}", { timeoutMs: 2000, allow: allowListOf(allow) });
        expect(sent).toMatchObject({ ok: true, statusCode: 200, excerpt: null });
      }
    } finally {
      await receiver.close();
    }
  });
});

describe.each(DATABASES)("webhooks (%s)", (kind) => {
  let smtp: TestSmtp;
  let t: TestServer;
  let receiver: Receiver;
  let alice: User;
  const clock = new TestClock({ ticking: true });

  beforeAll(async () => {
    smtp = await startTestSmtp();
    receiver = await startReceiver();
    t = await startTestServer(kind, {
      clock,
      webhooks: true,
      env: {
        SF_SMTP_URL: smtp.url,
        SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1",
        SF_WEBHOOK_POLL_MS: "20",
        SF_WEBHOOK_TIMEOUT_SECONDS: "1",
        SF_WEBHOOK_RETRY_SCHEDULE: "0.2,0.2,0.2",
      },
    });
    alice = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await smtp?.close();
  });

  const register = async (u: User, body: Record<string, unknown>) => {
    const res = await t.fetch("/webhooks", { method: "POST", token: u.token, json: body });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; secret: string; url: string; events: string[] };
  };
  const deliveries = async (u: User, id: string) =>
    ((await (await t.fetch(`/webhooks/${id}/deliveries?per_page=100`, { token: u.token })).json()) as { items: Record<string, unknown>[] }).items;

  // The server signs with its clock, which these tests move by days: the signature is checked,
  // the freshness of its timestamp (tested on its own below) is not.
  const verifyOpts = { toleranceSeconds: 365 * 86_400 };
  /** The events a receiver got for one secret, verified with the SDK's helper and parsed. */
  const eventsOf = (r: Receiver, secret: string): (WebhookEvent & { delivery: string })[] =>
    r.received
      .filter((x: Received) => {
        try {
          verifyWebhookSignature(x.body, x.headers["speedyfiles-signature"] as string, secret, verifyOpts);
          return true;
        } catch {
          return false;
        }
      })
      .map((x) => ({
        ...parseWebhookEvent(x.body, x.headers["speedyfiles-signature"] as string, secret, verifyOpts),
        delivery: x.headers["speedyfiles-delivery"] as string,
      }));

  it("manages webhooks: the secret is shown once, never listed; another user's is 403; unknown 404", async () => {
    const bob = await t.createUser();
    await expectValidationError(
      await t.fetch("/webhooks", { method: "POST", token: alice.token, json: { url: receiver.url, events: ["package.created", "package.created"] } }),
      "/body/events",
    );
    const hook = await register(alice, { url: receiver.url, events: ["package.created"], description: "CI" });
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(hook.events).toEqual(["package.created"]);
    const listed = await (await t.fetch("/webhooks", { token: alice.token })).json();
    expect(JSON.stringify(listed)).not.toContain(hook.secret);
    expect(listed.map((h: { id: string }) => h.id)).toContain(hook.id);
    expect(JSON.stringify(await (await t.fetch(`/webhooks/${hook.id}`, { token: alice.token })).json())).not.toContain(hook.secret);
    expect(await (await t.fetch("/webhooks", { token: bob.token })).json()).toEqual([]);
    await expectError(await t.fetch(`/webhooks/${hook.id}`, { token: bob.token }), 403, "webhook_forbidden");
    await expectError(await t.fetch(`/webhooks/${hook.id}`, { method: "DELETE", token: bob.token }), 403, "webhook_forbidden");
    await expectError(await t.fetch(`/webhooks/${crypto.randomUUID()}`, { token: alice.token }), 404, "webhook_not_found");
    await expectError(await t.fetch("/webhooks?all=true", { token: bob.token }), 403, "admin_required");
    const admin = await t.createUser({ role: "admin" });
    const all = await (await t.fetch("/webhooks?all=true", { token: admin.token })).json();
    expect(all.map((h: { id: string }) => h.id)).toContain(hook.id);

    const patched = await t.fetch(`/webhooks/${hook.id}`, { method: "PATCH", token: alice.token, json: { events: ["package.deleted"], enabled: false } });
    expect(await patched.json()).toMatchObject({ events: ["package.deleted"], enabled: false });
    await expectValidationError(await t.fetch(`/webhooks/${hook.id}`, { method: "PATCH", token: alice.token, json: { url: "ftp://x.test/" } }), "/body/url");
    await expectValidationError(await t.fetch("/webhooks", { method: "POST", token: alice.token, json: { url: receiver.url, events: [] } }), "/body/events");
    await expectValidationError(await t.fetch("/webhooks", { method: "POST", token: alice.token, json: { url: receiver.url, events: ["package.exploded"] } }));
    expect((await t.fetch(`/webhooks/${hook.id}`, { method: "DELETE", token: alice.token })).status).toBe(204);
    await expectError(await t.fetch(`/webhooks/${hook.id}`, { token: alice.token }), 404, "webhook_not_found");
  });

  it("every lifecycle event of a package arrives signed, once, in the order it happened", async () => {
    const u = await t.createUser();
    const r = await startReceiver();
    try {
      const hook = await register(u, { url: r.url, events: ALL_EVENTS });
      // Outbound: created, finalized, downloaded (a file, then the zip), revoked, deleted.
      const out = await shareFiles(
        t,
        u.token,
        [
          ["q4.pdf", "numbers"],
          ["notes.txt", "notes"],
        ],
        { title: "Q4" },
      );
      await (await fetch(`${out.api}/files/${out.files[0]!.id}`)).arrayBuffer();
      await until(async () => eventsOf(r, hook.secret).some((e) => e.type === "package.downloaded"), 5000, "the file download");
      await (await fetch(`${out.api}/archive`)).arrayBuffer();
      await until(async () => eventsOf(r, hook.secret).filter((e) => e.type === "package.downloaded").length === 2, 5000, "the zip download");
      expect((await t.fetch(`/packages/${out.id}/revoke`, { method: "POST", token: u.token })).status).toBe(200);
      expect((await t.fetch(`/packages/${out.id}`, { method: "DELETE", token: u.token })).status).toBe(204);
      // Inbound: created, finalized, uploaded, completed.
      const inb = await requestFiles(t, u.token, { title: "Your documents" });
      expect((await uploadToLink(inb.api, "passport.pdf", "scan")).status).toBe(201);
      expect((await fetch(`${inb.api}/complete`, { method: "POST" })).status).toBe(200);
      // Expired: a package whose link runs out.
      const exp = await shareFiles(t, u.token, [["old.txt", "old"]], { ttl_days: 1, title: "Short" });
      // Every delivery so far recorded before the clock jumps: a lease still held would look
      // expired two days on, and its delivery would be sent again.
      await until(
        async () =>
          eventsOf(r, hook.secret).length === 12 &&
          Number((await t.running.services.db("webhook_deliveries").whereNotNull("lease_until").where({ state: "pending" }).count({ n: "*" }))[0]!.n) === 0,
        10_000,
        "12 events delivered and recorded",
      );
      clock.advanceDays(2);
      await sweepOnce(t.running.services);

      await until(async () => eventsOf(r, hook.secret).length === 13, 10_000, "13 events");
      const events = eventsOf(r, hook.secret);
      const byPackage = (id: string) => events.filter((e) => e.data.package?.id === id).map((e) => e.type);
      expect(byPackage(out.id)).toEqual(["package.created", "package.finalized", "package.downloaded", "package.downloaded", "package.revoked", "package.deleted"]);
      expect(byPackage(inb.id)).toEqual(["package.created", "package.finalized", "package.uploaded", "package.completed"]);
      expect(byPackage(exp.id)).toEqual(["package.created", "package.finalized", "package.expired"]);
      // Each carries what happened.
      const fileDownload = events.find((e) => e.type === "package.downloaded" && e.data.file)!;
      expect(fileDownload.data.file).toMatchObject({ id: out.files[0]!.id, name: "q4.pdf" });
      expect(events.find((e) => e.type === "package.uploaded")!.data.file).toMatchObject({ name: "passport.pdf" });
      expect(events.find((e) => e.type === "package.revoked")!.data.package).toMatchObject({ status: "revoked", title: "Q4" });
      expect(events.find((e) => e.type === "package.deleted")!.data.package).toMatchObject({ id: out.id, file_count: 2 });
      expect(events.find((e) => e.type === "package.expired")!.data.package).toMatchObject({ status: "expired" });
      // Headers: one delivery each, never twice; the event type; our user agent; JSON.
      const received = r.received;
      expect(new Set(received.map((x) => x.headers["speedyfiles-delivery"])).size).toBe(13);
      expect(new Set(events.map((e) => e.id)).size).toBe(13);
      for (const x of received) {
        expect(x.headers["content-type"]).toBe("application/json");
        expect(x.headers["user-agent"]).toMatch(/^SpeedyFiles-Webhooks\/\d/);
        expect(x.headers["speedyfiles-event"]).toBe(JSON.parse(x.body).type);
        expect(x.headers["speedyfiles-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      }
      // The log says so.
      const log = await deliveries(u, hook.id);
      expect(log).toHaveLength(13);
      expect(log.every((d) => d.state === "succeeded" && d.attempts === 1 && d.last_status_code === 200)).toBe(true);
    } finally {
      await r.close();
    }
  });

  it("nobody listening writes nothing; events of one user never reach another's webhook", async () => {
    const u = await t.createUser();
    const other = await t.createUser();
    const r = await startReceiver();
    try {
      await register(other, { url: r.url, events: ALL_EVENTS });
      const before = await t.running.services.db("webhook_events").count<{ n: number }[]>({ n: "*" });
      await shareFiles(t, u.token, [["a.txt", "a"]]);
      const after = await t.running.services.db("webhook_events").count<{ n: number }[]>({ n: "*" });
      expect(Number(after[0]!.n)).toBe(Number(before[0]!.n));
      await new Promise((res) => setTimeout(res, 300));
      expect(r.received).toHaveLength(0);
    } finally {
      await r.close();
    }
  });

  it("a receiver answering 500 gets the retry with the same delivery id; then 200 is success", async () => {
    const u = await t.createUser();
    const r = await startReceiver();
    try {
      r.answer({ status: 500, body: "x".repeat(5000) }, 200);
      const hook = await register(u, { url: r.url, events: ["package.created"] });
      await createPackage(t, u.token, { title: "Retry me" });
      const got = await r.waitFor(2);
      expect(got[1]!.headers["speedyfiles-delivery"]).toBe(got[0]!.headers["speedyfiles-delivery"]);
      expect(got[1]!.body).toBe(got[0]!.body);
      await until(async () => (await deliveries(u, hook.id))[0]?.state === "succeeded", 5000, "success recorded");
      const [d] = await deliveries(u, hook.id);
      expect(d).toMatchObject({ state: "succeeded", attempts: 2, last_status_code: 200, last_error: null, next_attempt_at: null });
      expect(d!.id).toBe(got[0]!.headers["speedyfiles-delivery"]);
    } finally {
      await r.close();
    }
  });

  it("the log shows a failing attempt: status, error, the next retry, and no response body from a receiver on the allow-list; redirects are not followed", async () => {
    const u = await t.createUser();
    const r = await startReceiver();
    try {
      r.answer({ status: 302, headers: { Location: "http://127.0.0.1:1/elsewhere" }, body: "y".repeat(3000) });
      const hook = await register(u, { url: r.url, events: ["package.created"] });
      await createPackage(t, u.token, { title: "Redirected" });
      await until(async () => ((await deliveries(u, hook.id))[0]?.attempts as number) >= 1, 5000, "an attempt");
      const [d] = await deliveries(u, hook.id);
      // 127.0.0.1 is reachable only through SF_WEBHOOK_ALLOW_HOSTS: what it answers stays out of the log.
      expect(d).toMatchObject({ last_status_code: 302, last_error: "status 302", response_excerpt: null });
      await until(async () => (await deliveries(u, hook.id))[0]?.state === "failed", 5000, "failed for good after the schedule");
      expect((await deliveries(u, hook.id))[0]).toMatchObject({ attempts: 4, state: "failed", next_attempt_at: null });
      expect(r.received).toHaveLength(4);
    } finally {
      await r.close();
    }
  });

  it("a receiver that hangs hits the timeout, and is retried", async () => {
    const u = await t.createUser();
    const r = await startReceiver();
    try {
      r.answer("hang", 204);
      const hook = await register(u, { url: r.url, events: ["package.created"] });
      const started = Date.now();
      await createPackage(t, u.token, { title: "Slow receiver" });
      await until(async () => (await deliveries(u, hook.id))[0]?.state === "succeeded", 8000, "the retry after the timeout");
      const [d] = await deliveries(u, hook.id);
      expect(d).toMatchObject({ attempts: 2, last_status_code: 204 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(r.received).toHaveLength(2);
    } finally {
      await r.close();
    }
  });

  it("ping, and redeliver: the same event as a new delivery", async () => {
    const u = await t.createUser();
    const r = await startReceiver();
    try {
      const hook = await register(u, { url: r.url, events: ["package.deleted"] });
      const ping = await t.fetch(`/webhooks/${hook.id}/test`, { method: "POST", token: u.token });
      expect(ping.status).toBe(202);
      const queued = await ping.json();
      expect(queued).toMatchObject({ event_type: "ping", state: "pending" });
      await r.waitFor(1);
      const [event] = eventsOf(r, hook.secret);
      expect(event).toMatchObject({ type: "ping", data: { webhook: { id: hook.id, url: hook.url } } });

      const again = await t.fetch(`/webhooks/${hook.id}/deliveries/${queued.id}/redeliver`, { method: "POST", token: u.token });
      expect(again.status).toBe(202);
      const redelivery = await again.json();
      expect(redelivery).toMatchObject({ redelivery_of: queued.id, event_id: event!.id, state: "pending" });
      await r.waitFor(2);
      const both = eventsOf(r, hook.secret);
      expect(both.map((e) => e.id)).toEqual([event!.id, event!.id]);
      expect(both[1]!.delivery).toBe(redelivery.id);
      await expectError(await t.fetch(`/webhooks/${hook.id}/deliveries/${crypto.randomUUID()}/redeliver`, { method: "POST", token: u.token }), 404, "delivery_not_found");
    } finally {
      await r.close();
    }
  });
});

describe.each(DATABASES)("webhook delivery that outlives a server, and the guard on private addresses (%s)", (kind) => {
  let smtp: TestSmtp;
  beforeAll(async () => {
    smtp = await startTestSmtp();
  });
  afterAll(async () => {
    await smtp?.close();
  });

  it("a pending delivery survives a restart mid-backoff and is delivered by the next server", async () => {
    const r = await startReceiver();
    const dataDir = await fs.mkdtemp(`${os.tmpdir()}/sf-restart-`);
    const pg = kind === "postgres" ? await createPgDatabase() : undefined;
    const env = { SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1", SF_WEBHOOK_POLL_MS: "20", SF_WEBHOOK_RETRY_SCHEDULE: "1.5" };
    const common = { webhooks: true, dataDir, ...(pg ? { databaseUrl: pg.url } : {}), env, clock: new TestClock({ ticking: true }) };
    try {
      r.answer(503, 200);
      const first = await startTestServer(kind, common);
      const u = await first.createUser();
      const hook = (await (await first.fetch("/webhooks", { method: "POST", token: u.token, json: { url: r.url, events: ["package.created"] } })).json()) as {
        id: string;
        secret: string;
      };
      await createPackage(first, u.token, { title: "Survives" });
      await r.waitFor(1);
      await first.close(); // mid-backoff: the retry is due in about 1.5 s

      const second = await startTestServer(kind, common);
      try {
        await r.waitFor(2, 10_000);
        expect(r.received[1]!.headers["speedyfiles-delivery"]).toBe(r.received[0]!.headers["speedyfiles-delivery"]);
        verifyWebhookSignature(r.received[1]!.body, r.received[1]!.headers["speedyfiles-signature"] as string, hook.secret);
        await until(async () => (await second.running.services.db("webhook_deliveries").where({ state: "succeeded" })).length === 1, 5000, "success");
      } finally {
        await second.close();
      }
    } finally {
      await r.close();
      await pg?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it("a webhook failing for longer than SF_WEBHOOK_DISABLE_AFTER_HOURS is disabled and its owner emailed, once", async () => {
    const clock = new TestClock();
    const t = await startTestServer(kind, {
      clock,
      env: { SF_SMTP_URL: smtp.url, SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1", SF_WEBHOOK_RETRY_SCHEDULE: "3600,3600", SF_WEBHOOK_DISABLE_AFTER_HOURS: "2" },
    });
    const r = await startReceiver();
    try {
      r.answer(500);
      const u = await t.createUser({ email: `hooks-${crypto.randomBytes(3).toString("hex")}@acme.test` });
      const hook = (await (await t.fetch("/webhooks", { method: "POST", token: u.token, json: { url: r.url, events: ["package.created"] } })).json()) as { id: string };
      await createPackage(t, u.token, { title: "Doomed" });
      expect(await deliverDue(t.running.services)).toBe(1);
      clock.advance(3600_000 * 1.3);
      expect(await deliverDue(t.running.services)).toBe(1);
      let h = await (await t.fetch(`/webhooks/${hook.id}`, { token: u.token })).json();
      expect(h).toMatchObject({ enabled: true, failing_since: expect.any(String) });
      clock.advance(3600_000 * 1.3);
      expect(await deliverDue(t.running.services)).toBe(1);
      h = await (await t.fetch(`/webhooks/${hook.id}`, { token: u.token })).json();
      expect(h).toMatchObject({ enabled: false, disabled_reason: expect.stringMatching(/failed since/) });
      const mail = await smtp.waitForMail((m) => m.envelope.to.includes(u.user.email));
      expect(mail.parsed.subject).toContain(r.url);
      // Disabled: new events are not queued for it, and nothing more is attempted.
      await createPackage(t, u.token, { title: "While disabled" });
      clock.advance(3600_000 * 5);
      expect(await deliverDue(t.running.services)).toBe(0);
      expect(smtp.messages.filter((m) => m.envelope.to.includes(u.user.email))).toHaveLength(1);
      // Re-enabled: the record is cleared.
      const enabled = await (await t.fetch(`/webhooks/${hook.id}`, { method: "PATCH", token: u.token, json: { enabled: true } })).json();
      expect(enabled).toMatchObject({ enabled: true, disabled_reason: null, failing_since: null });
    } finally {
      await r.close();
      await t.close();
    }
  });

  it("refuses URLs that point at private networks (422), in every IPv6 form, unless SF_WEBHOOK_ALLOW_HOSTS names them", async () => {
    const t = await startTestServer(kind);
    try {
      const u = await t.createUser();
      for (const url of [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://LOCALHOST./hook",
        "http://app.localhost/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.10/hook",
        "http://172.20.1.1/hook",
        "http://100.100.100.100/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00:ec2::254]/hook",
        "http://2130706433/hook",
        "http://0x7f000001/hook",
        "http://0177.0.0.1/hook",
        "http://0/hook",
        "http://[::ffff:0:7f00:1]/hook",
        "http://[::ffff:7f00:1]/hook",
        "http://[::ffff:0:a9fe:a9fe]/latest/meta-data/",
        "http://[::127.0.0.1]/hook",
        "http://[64:ff9b::7f00:1]/hook",
        "http://[64:ff9b::169.254.169.254]/hook",
        "http://[2002:7f00:1::]/hook",
        "http://[fe80::1]/hook",
        "http://[fc00::1]/hook",
        "http://[::]/hook",
        "http://[ff02::1]/hook",
        "ftp://files.example.com/",
        "file:///etc/passwd",
        "https://user:pass@hooks.example.com/",
        "not a url",
      ]) {
        const res = await t.fetch("/webhooks", { method: "POST", token: u.token, json: { url, events: ["package.created"] } });
        const body = await expectValidationError(res, "/body/url");
        expect({ url, code: body.code }).toEqual({ url, code: "webhook_url_forbidden" });
      }
      expect(await (await t.fetch("/webhooks", { token: u.token })).json()).toEqual([]);
    } finally {
      await t.close();
    }
    // The operator's list lets exactly what it names through.
    const allowed = await startTestServer(kind, { env: { SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1,fd00::/8,hooks.internal" } });
    try {
      const u = await allowed.createUser();
      for (const url of [
        "http://127.0.0.1:8080/hook",
        "http://[::ffff:127.0.0.1]:8080/hook",
        "http://[fd00::5]/hook",
        "http://hooks.internal/hook",
        "http://HOOKS.internal./hook",
      ]) {
        expect({ url, status: (await allowed.fetch("/webhooks", { method: "POST", token: u.token, json: { url, events: ["package.created"] } })).status }).toEqual({
          url,
          status: 201,
        });
      }
      for (const url of ["http://127.0.0.2/hook", "http://[::ffff:0:7f00:1]/hook", "http://[::1]/hook", "http://localhost/hook", "http://[fc00::5]/hook", "http://10.0.0.1/hook"]) {
        const body = await expectValidationError(await allowed.fetch("/webhooks", { method: "POST", token: u.token, json: { url, events: ["package.created"] } }), "/body/url");
        expect({ url, code: body.code }).toEqual({ url, code: "webhook_url_forbidden" });
      }
    } finally {
      await allowed.close();
    }
  });
});

describe("two server processes on one PostgreSQL", () => {
  it.runIf(DATABASES.includes("postgres"))("deliver each event exactly once", async () => {
    const pg = await createPgDatabase();
    const r = await startReceiver();
    const env = { SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1", SF_WEBHOOK_POLL_MS: "10" };
    const a = await startTestServer("postgres", { databaseUrl: pg.url, webhooks: true, env, clock: new TestClock({ ticking: true }) });
    const b = await startTestServer("postgres", { databaseUrl: pg.url, webhooks: true, env, clock: new TestClock({ ticking: true }) });
    try {
      const u = await a.createUser();
      const hook = (await (await a.fetch("/webhooks", { method: "POST", token: u.token, json: { url: r.url, events: ["package.created", "package.finalized"] } })).json()) as {
        secret: string;
      };
      const n = 20;
      await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const server = i % 2 === 0 ? a : b;
          const p = await createPackage(server, u.token, { title: `p${i}`, direction: "inbound" });
          await finalize(server, u.token, p.id);
        }),
      );
      await r.waitFor(2 * n, 15_000);
      await new Promise((res) => setTimeout(res, 500));
      expect(r.received).toHaveLength(2 * n);
      const ids = r.received.map((x) => x.headers["speedyfiles-delivery"]);
      expect(new Set(ids).size).toBe(2 * n);
      // Both processes took part, and each package's events came in order.
      const events = r.received.map((x) => parseWebhookEvent(x.body, x.headers["speedyfiles-signature"] as string, hook.secret));
      const perPackage = new Map<string, string[]>();
      for (const e of events) perPackage.set(e.data.package!.id, [...(perPackage.get(e.data.package!.id) ?? []), e.type]);
      for (const types of perPackage.values()) expect(types).toEqual(["package.created", "package.finalized"]);
    } finally {
      await a.close();
      await b.close();
      await r.close();
      await pg.drop();
    }
  });

  it("the SDK helper refuses a tampered body, a wrong secret and a stale timestamp", () => {
    const secret = `whsec_${crypto.randomBytes(32).toString("base64url")}`;
    const body = JSON.stringify({ id: crypto.randomUUID(), type: "ping", created_at: new Date().toISOString(), data: {} });
    const t = Math.floor(Date.now() / 1000);
    const sign = (s: string, b: string, ts: number) => `t=${ts},v1=${crypto.createHmac("sha256", s).update(`${ts}.${b}`).digest("hex")}`;
    expect(() => verifyWebhookSignature(body, sign(secret, body, t), secret)).not.toThrow();
    expect(() => verifyWebhookSignature(`${body} `, sign(secret, body, t), secret)).toThrow(WebhookSignatureError);
    expect(() => verifyWebhookSignature(body, sign(`${secret}x`, body, t), secret)).toThrow(WebhookSignatureError);
    expect(() => verifyWebhookSignature(body, sign(secret, body, t - 301), secret)).toThrow(/replay/);
    expect(() => verifyWebhookSignature(body, sign(secret, body, t - 301), secret, { toleranceSeconds: 600 })).not.toThrow();
    expect(() => verifyWebhookSignature(body, undefined, secret)).toThrow(WebhookSignatureError);
    expect(() => verifyWebhookSignature(body, "v1=abc", secret)).toThrow(/malformed/);
    // A rotated secret: either signature may match.
    expect(() => verifyWebhookSignature(body, `${sign("old", body, t)},v1=${sign(secret, body, t).split("v1=")[1]}`, secret)).not.toThrow();
  });
});
