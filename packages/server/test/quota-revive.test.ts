// The storage quota when an expired package comes back: its files are not held while it is
// expired, so extending it (PATCH ttl_days or expires_at) must find room for them in the quota,
// or a user could fill the quota, let it expire, fill it again and revive the first one.
import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { addFile, createPackage } from "@speedyfiles/test-utils/uploads";

const QUOTA = 1000;

describe.each(DATABASES)("reviving an expired package within the quota (%s)", (kind) => {
  let t: TestServer;
  let admin: Awaited<ReturnType<TestServer["createUser"]>>;

  beforeAll(async () => {
    t = await startTestServer(kind);
    admin = await t.createUser({ role: "admin" });
    const res = await t.fetch("/admin/policy", { method: "PUT", token: admin.token, json: { quota_bytes_per_user: QUOTA } });
    expect(res.status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  const used = async (token: string) => ((await (await t.fetch("/me/policy", { token })).json()) as { quota_used_bytes: number }).quota_used_bytes;
  const finalize = async (token: string, id: string) => {
    const res = await t.fetch(`/packages/${id}/finalize`, { method: "POST", token, json: {} });
    expect(res.status).toBe(200);
  };

  it("refuses to extend an expired package whose files no longer fit, and allows it when they do", async () => {
    const u = await t.createUser();
    const first = await createPackage(t, u.token, { ttl_days: 1 });
    await addFile(t, u.token, first.id, "a.bin", crypto.randomBytes(900));
    await finalize(u.token, first.id);
    t.clock.advanceDays(2);
    expect(await used(u.token)).toBe(0);

    const second = await createPackage(t, u.token, { ttl_days: 14 });
    await addFile(t, u.token, second.id, "b.bin", crypto.randomBytes(900));
    await finalize(u.token, second.id);

    for (const json of [{ ttl_days: 7 }, { expires_at: new Date(t.clock.now().getTime() + 3 * 86_400_000).toISOString() }]) {
      const res = await t.fetch(`/packages/${first.id}`, { method: "PATCH", token: u.token, json });
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ code: "quota_exceeded", rule: "quota_bytes_per_user", limit: QUOTA });
    }
    expect(await used(u.token)).toBe(900);
    const still = (await (await t.fetch(`/packages/${first.id}`, { token: u.token })).json()) as { status: string };
    expect(still.status).toBe("expired");

    // Room again: the second one revoked, the first comes back.
    expect((await t.fetch(`/packages/${second.id}/revoke`, { method: "POST", token: u.token })).status).toBe(200);
    const res = await t.fetch(`/packages/${first.id}`, { method: "PATCH", token: u.token, json: { ttl_days: 7 } });
    expect(res.status).toBe(200);
    expect(await used(u.token)).toBe(900);
  });

  it("extends an active package without counting its own files twice", async () => {
    const u = await t.createUser();
    const p = await createPackage(t, u.token, { ttl_days: 1 });
    await addFile(t, u.token, p.id, "a.bin", crypto.randomBytes(900));
    await finalize(u.token, p.id);
    const res = await t.fetch(`/packages/${p.id}`, { method: "PATCH", token: u.token, json: { ttl_days: 30 } });
    expect(res.status).toBe(200);
  });
});
