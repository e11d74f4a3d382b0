import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { expectError, expectValidationError } from "@speedyfiles/test-utils/expect";
import { addFile, createPackage } from "@speedyfiles/test-utils/uploads";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

// Retried requests, since a client that lost an answer must be able to try again:
// Idempotency-Key on POST /packages and /finalize, and list walks that neither skip nor repeat.
describe.each(DATABASES)("safe retries and stable walks (%s)", (kind) => {
  let smtp: TestSmtp;
  let t: TestServer;
  let alice: User;
  const clock = new TestClock();

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { clock, env: { SF_SMTP_URL: smtp.url } });
    alice = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  const body = (over: Record<string, unknown> = {}) => ({ title: "CI artifacts", recipient_email: "qa@acme.test", direction: "outbound", ttl_days: 3, ...over });
  const create = (u: User, key: string | undefined, b: Record<string, unknown> = body()) =>
    t.fetch("/packages", { method: "POST", token: u.token, json: b, headers: key ? { "Idempotency-Key": key } : {} });
  const finalize = (u: User, id: string, key?: string) => t.fetch(`/packages/${id}/finalize`, { method: "POST", token: u.token, headers: key ? { "Idempotency-Key": key } : {} });
  const count = async (u: User) => ((await (await t.fetch("/packages?per_page=1", { token: u.token })).json()) as { total: number }).total;

  describe("Idempotency-Key", () => {
    it("the same key and body create one package, and answer it again", async () => {
      const u = await t.createUser();
      const key = crypto.randomUUID();
      const first = await create(u, key);
      expect(first.status).toBe(201);
      const a = await first.json();
      const again = await create(u, key);
      expect(again.status).toBe(201);
      expect(await again.json()).toEqual(a);
      expect(await count(u)).toBe(1);
      // Another key is another package; no key at all is too.
      expect((await create(u, crypto.randomUUID())).status).toBe(201);
      expect((await create(u, undefined)).status).toBe(201);
      expect(await count(u)).toBe(3);
    });

    it("the same key with another body is 422, and keys are per user", async () => {
      const u = await t.createUser();
      const key = crypto.randomUUID();
      expect((await create(u, key)).status).toBe(201);
      await expectValidationError(await create(u, key, body({ title: "Something else" })), "/header/Idempotency-Key", "idempotency_key_reused");
      // Key order in the JSON does not make another body.
      const reordered = Object.fromEntries(Object.entries(body()).reverse());
      expect((await create(u, key, reordered)).status).toBe(201);
      const other = await t.createUser();
      expect((await create(other, key, body({ title: "Something else" }))).status).toBe(201);
      expect(await count(u)).toBe(1);
      expect(await count(other)).toBe(1);
    });

    it("a retried finalize answers the same magic link and sends one email", async () => {
      const u = await t.createUser();
      const to = `fin-${crypto.randomBytes(3).toString("hex")}@acme.test`;
      const pkg = await createPackage(t, u.token, { direction: "outbound", recipient_email: to });
      await addFile(t, u.token, pkg.id, "build.zip", "zip bytes");
      const key = crypto.randomUUID();
      const first = await finalize(u, pkg.id, key);
      expect(first.status).toBe(200);
      const a = (await first.json()) as { magic_link: string };
      const again = await finalize(u, pkg.id, key);
      expect(again.status).toBe(200);
      expect(((await again.json()) as { magic_link: string }).magic_link).toBe(a.magic_link);
      await smtp.waitForMail((m) => m.envelope.to.includes(to));
      await new Promise((r) => setTimeout(r, 300));
      expect(smtp.messages.filter((m) => m.envelope.to.includes(to))).toHaveLength(1);
      // Without the key it is a second finalize: 409.
      await expectError(await finalize(u, pkg.id), 409, "package_not_draft");
      // The key of another package's finalize is another request.
      const other = await createPackage(t, u.token, { direction: "inbound" });
      await expectError(await finalize(u, other.id, key), 422, "idempotency_key_reused");

      // The stored answer holds the magic link only encrypted (the server keeps links as hashes).
      const rows = await t.running.services.db("idempotency_keys").select();
      const secret = a.magic_link.split("/l/")[1]!;
      expect(JSON.stringify(rows)).not.toContain(secret);
      expect(JSON.stringify(rows)).not.toContain(key);
    });

    it("a first request that failed leaves the key free: its retry runs", async () => {
      const u = await t.createUser();
      const pkg = await createPackage(t, u.token, { direction: "outbound" });
      const key = crypto.randomUUID();
      await expectError(await finalize(u, pkg.id, key), 422, "package_empty");
      await addFile(t, u.token, pkg.id, "now.txt", "now");
      expect((await finalize(u, pkg.id, key)).status).toBe(200);
    });

    it("a retry while the first is still running is 409 with Retry-After; concurrent calls create one package", async () => {
      const u = await t.createUser();
      const key = crypto.randomUUID();
      const answers = await Promise.all([create(u, key), create(u, key), create(u, key)]);
      const statuses = answers.map((r) => r.status).sort();
      for (const r of answers) {
        if (r.status === 409) {
          expect(r.headers.get("retry-after")).toBe("1");
          await expectError(r, 409, "idempotency_key_in_use");
        } else {
          expect(r.status).toBe(201);
          await r.arrayBuffer();
        }
      }
      expect(statuses).toContain(201);
      expect(await count(u)).toBe(1);
    });

    it("a claim left pending by a request that died is taken over after a minute; answers expire after 24 hours", async () => {
      const u = await t.createUser();
      const key = crypto.randomUUID();
      expect((await create(u, key)).status).toBe(201);
      // Make the stored answer look like a claim that never finished.
      await t.running.services.db("idempotency_keys").where({ user_id: u.user.id }).update({ state: "pending", status: null, response: null });
      await expectError(await create(u, key), 409, "idempotency_key_in_use");
      clock.advance(61_000);
      expect((await create(u, key)).status).toBe(201);
      expect(await count(u)).toBe(2);

      clock.advance(24 * 3600_000);
      expect((await create(u, key)).status).toBe(201);
      expect(await count(u)).toBe(3);
    });

    it("a malformed key is 422", async () => {
      await expectValidationError(await create(alice, "short"), "/headers/idempotency-key");
    });
  });

  describe("walking the list of packages", () => {
    it("by cursor, never skips or repeats a package while others are created and deleted", async () => {
      const u = await t.createUser();
      const made: string[] = [];
      for (let i = 0; i < 7; i++) {
        clock.advance(1000);
        made.push((await createPackage(t, u.token, { title: `walk ${i}` })).id);
      }
      const page = async (q: string) =>
        (await (await t.fetch(`/packages?per_page=3${q}`, { token: u.token })).json()) as { items: { id: string }[]; next_cursor: string | null; page: number };
      const seen: string[] = [];
      let p = await page("");
      seen.push(...p.items.map((i) => i.id));
      // Meanwhile: two new packages, and one not yet seen is deleted.
      clock.advance(1000);
      await createPackage(t, u.token, { title: "new 1" });
      await createPackage(t, u.token, { title: "new 2" });
      expect((await t.fetch(`/packages/${made[1]}`, { method: "DELETE", token: u.token })).status).toBe(204);
      while (p.next_cursor) {
        p = await page(`&cursor=${p.next_cursor}`);
        expect(p.page).toBe(1);
        seen.push(...p.items.map((i) => i.id));
      }
      expect(seen).toEqual([...made].reverse().filter((id) => id !== made[1]));
    });

    it("every page by number holds the right packages, the later pages too (read from the far end)", async () => {
      const u = await t.createUser();
      const made: string[] = [];
      for (let i = 0; i < 7; i++) {
        clock.advance(1000);
        made.push((await createPackage(t, u.token, { title: `paged ${i}` })).id);
      }
      const newestFirst = [...made].reverse();
      for (const perPage of [1, 2, 3, 5, 7, 10]) {
        const seen: string[] = [];
        for (let page = 1; page <= Math.ceil(7 / perPage) + 1; page++) {
          const res = (await (await t.fetch(`/packages?page=${page}&per_page=${perPage}`, { token: u.token })).json()) as { items: { id: string }[]; total: number };
          expect(res.total).toBe(7);
          expect({ perPage, page, ids: res.items.map((i) => i.id) }).toEqual({ perPage, page, ids: newestFirst.slice((page - 1) * perPage, page * perPage) });
          seen.push(...res.items.map((i) => i.id));
        }
        expect(seen).toEqual(newestFirst);
      }
    });

    it("a cursor that was not given out, or a cursor with a page, is 422", async () => {
      await expectValidationError(await t.fetch("/packages?cursor=not-a-cursor", { token: alice.token }), "/query/cursor");
      const forged = Buffer.from(JSON.stringify(["2026-01-01T00:00:00.000Z", "' or 1=1 --"])).toString("base64url");
      await expectValidationError(await t.fetch(`/packages?cursor=${forged}`, { token: alice.token }), "/query/cursor");
      const real = Buffer.from(JSON.stringify(["2026-01-01T00:00:00.000Z", crypto.randomUUID()])).toString("base64url");
      expect((await t.fetch(`/packages?cursor=${real}`, { token: alice.token })).status).toBe(200);
      await expectValidationError(await t.fetch(`/packages?cursor=${real}&page=2`, { token: alice.token }), "/query/cursor");
    });

    it("id_prefix finds packages by the start of their id, as git does with commits", async () => {
      const u = await t.createUser();
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await createPackage(t, u.token, { title: `p${i}` })).id);
      const find = async (prefix: string) =>
        ((await (await t.fetch(`/packages?id_prefix=${prefix}`, { token: u.token })).json()) as { items: { id: string }[] }).items.map((i) => i.id);
      expect(await find(ids[0]!.slice(0, 8))).toEqual([ids[0]]);
      expect(await find(ids[1]!.slice(0, 13).toUpperCase())).toEqual([ids[1]]);
      // Only the caller's packages.
      expect(await (await t.fetch(`/packages?id_prefix=${ids[0]!.slice(0, 8)}`, { token: alice.token })).json()).toMatchObject({ items: [] });
      await expectValidationError(await t.fetch("/packages?id_prefix=xyz%25", { token: u.token }), "/query/id_prefix");
    });
  });
});
