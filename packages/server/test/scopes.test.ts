import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError } from "@speedyfiles/test-utils/expect";

/**
 * Tokens limited to some scopes. No API makes one yet, so the tests set the column themselves; the
 * rest (what a limited token may call, what it may mint) runs through the API.
 */
describe.each(DATABASES)("scopes (%s)", (kind) => {
  let t: TestServer;
  let alice: Awaited<ReturnType<TestServer["createUser"]>>;
  let admin: Awaited<ReturnType<TestServer["createUser"]>>;

  /** A new token of the user of `token`, limited to `scopes`. */
  const limited = async (token: string, scopes: string[]): Promise<string> => {
    const res = await t.fetch("/me/tokens", { method: "POST", token, json: { name: "limited" } });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string; token: string };
    await t.running.services
      .db("api_tokens")
      .where({ id: created.id })
      .update({ scopes: JSON.stringify(scopes) });
    return created.token;
  };

  beforeAll(async () => {
    t = await startTestServer(kind);
    [alice, admin] = await Promise.all([t.createUser(), t.createUser({ role: "admin" })]);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a read-only token reads, and gets 403 insufficient_scope for the rest, before its body is judged", async () => {
    const token = await limited(alice.token, ["packages:read"]);
    expect((await t.fetch("/packages", { token })).status).toBe(200);
    expect((await t.fetch("/me", { token })).status).toBe(200);
    const broken = { method: "POST", token, body: "{broken", headers: { "Content-Type": "application/json" } };
    await expectError(await t.fetch("/packages", broken), 403, "insufficient_scope");
    await expectError(await t.fetch("/webhooks", { token }), 403, "insufficient_scope");
    await expectError(await t.fetch("/me/tokens", { token }), 403, "insufficient_scope");
    await expectError(await t.fetch("/me/tokens", broken), 403, "insufficient_scope");
  });

  it("a write-only token sends but cannot read its packages back", async () => {
    const token = await limited(alice.token, ["packages:write"]);
    const res = await t.fetch("/packages", { method: "POST", token, json: { title: "CI build", recipient_email: "r@example.com", direction: "outbound", ttl_days: 1 } });
    expect(res.status).toBe(201);
    const pkg = (await res.json()) as { id: string };
    await expectError(await t.fetch(`/packages/${pkg.id}`, { token }), 403, "insufficient_scope");
    expect((await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).status).toBe(200);
  });

  it("a token made by a limited token is limited the same way", async () => {
    const token = await limited(alice.token, ["packages:read", "tokens:write"]);
    const res = await t.fetch("/me/tokens", { method: "POST", token, json: { name: "child" } });
    expect(res.status).toBe(201);
    const child = (await res.json()) as { id: string; token: string };
    const row = (await t.running.services.db("api_tokens").where({ id: child.id }).first("scopes")) as { scopes: string | null };
    expect(JSON.parse(row.scopes!)).toEqual(["packages:read", "tokens:write"]);
    await expectError(await t.fetch("/packages", { method: "POST", token: child.token, json: {} }), 403, "insufficient_scope");
    // A full token makes full tokens.
    const full = await t.fetch("/me/tokens", { method: "POST", token: alice.token, json: { name: "full" } });
    const fullRow = (await t.running.services
      .db("api_tokens")
      .where({ id: ((await full.json()) as { id: string }).id })
      .first("scopes")) as { scopes: string | null };
    expect(fullRow.scopes).toBeNull();
  });

  it("an admin's token without the admin scope gets insufficient_scope; a user admin_required", async () => {
    const token = await limited(admin.token, ["packages:read", "webhooks:read"]);
    await expectError(await t.fetch("/admin/users", { token }), 403, "insufficient_scope");
    await expectError(await t.fetch("/webhooks?all=true", { token }), 403, "insufficient_scope");
    expect((await t.fetch("/webhooks", { token })).status).toBe(200);
    expect((await t.fetch("/admin/users", { token: admin.token })).status).toBe(200);
    await expectError(await t.fetch("/admin/users", { token: alice.token }), 403, "admin_required");
    // The admin scope on a user's token grants nothing.
    const userToken = await limited(alice.token, ["admin", "webhooks:read"]);
    await expectError(await t.fetch("/admin/users", { token: userToken }), 403, "admin_required");
  });
});
