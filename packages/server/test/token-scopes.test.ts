import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError, expectValidationError } from "@speedyfiles/test-utils/expect";
import { csrfOf, signedIn } from "@speedyfiles/test-utils/web";

type Created = { id: string; token: string; kind: string; scopes: string[] };

/** Personal tokens created with fewer scopes: through the API, the password exchange and the web page. */
describe.each(DATABASES)("token scopes chosen at creation (%s)", (kind) => {
  let t: TestServer;
  let alice: Awaited<ReturnType<TestServer["createUser"]>>;
  let admin: Awaited<ReturnType<TestServer["createUser"]>>;

  const create = async (token: string, body: Record<string, unknown>): Promise<Created> => {
    const res = await t.fetch("/me/tokens", { method: "POST", token, json: { name: "scoped", ...body } });
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as Created;
  };
  const newPackage = (token: string) =>
    t.fetch("/packages", { method: "POST", token, json: { title: "CI build", recipient_email: "r@example.com", direction: "outbound", ttl_days: 1 } });

  beforeAll(async () => {
    t = await startTestServer(kind);
    [alice, admin] = await Promise.all([t.createUser(), t.createUser({ role: "admin" })]);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a packages:write token creates, uploads and finalizes, but cannot list webhooks or create tokens", async () => {
    const created = await create(alice.token, { scopes: ["packages:write"] });
    expect(created).toMatchObject({ kind: "personal", scopes: ["packages:write"] });
    const token = created.token;
    const res = await newPackage(token);
    expect(res.status).toBe(201);
    const pkg = (await res.json()) as { id: string };
    const form = new FormData();
    form.append("file", new Blob(["hello"]), "a.txt");
    expect((await t.fetch(`/packages/${pkg.id}/files`, { method: "POST", token, body: form })).status).toBe(201);
    expect((await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token })).status).toBe(200);
    await expectError(await t.fetch("/webhooks", { token }), 403, "insufficient_scope");
    await expectError(await t.fetch("/me/tokens", { method: "POST", token, json: { name: "child" } }), 403, "insufficient_scope");
  });

  it("a read-only token reads but cannot create packages", async () => {
    const { token } = await create(alice.token, { scopes: ["packages:read"] });
    expect((await t.fetch("/packages", { token })).status).toBe(200);
    await expectError(await newPackage(token), 403, "insufficient_scope");
  });

  it("a scope the creator lacks is 403; admin asked by a user is admin_required; an empty list 422", async () => {
    const { token } = await create(alice.token, { scopes: ["packages:read", "tokens:write"] });
    await expectError(await t.fetch("/me/tokens", { method: "POST", token, json: { name: "wider", scopes: ["packages:write"] } }), 403, "insufficient_scope");
    // Within what it holds, it may mint a narrower one.
    expect(await create(token, { scopes: ["packages:read"] })).toMatchObject({ scopes: ["packages:read"] });
    await expectError(await t.fetch("/me/tokens", { method: "POST", token: alice.token, json: { name: "x", scopes: ["admin"] } }), 403, "admin_required");
    await expectValidationError(await t.fetch("/me/tokens", { method: "POST", token: alice.token, json: { name: "x", scopes: [] } }), "/body/scopes");
    await expectValidationError(await t.fetch("/me/tokens", { method: "POST", token: alice.token, json: { name: "x", scopes: ["packages:delete"] } }), "/body/scopes/0");
  });

  it("the list shows each token's kind and scopes; a legacy token (no limit) lists every scope of its role", async () => {
    const scoped = await create(admin.token, { scopes: ["webhooks:read", "packages:read", "webhooks:read"] });
    expect(scoped.scopes).toEqual(["packages:read", "webhooks:read"]);
    const list = (await (await t.fetch("/me/tokens", { token: admin.token })).json()) as Created[];
    expect(list.find((x) => x.id === scoped.id)).toMatchObject({ kind: "personal", scopes: ["packages:read", "webhooks:read"] });
    const row = (await t.running.services.db("api_tokens").whereNot({ id: scoped.id }).where({ user_id: admin.user.id }).first("id", "scopes")) as {
      id: string;
      scopes: string | null;
    };
    expect(row.scopes).toBeNull();
    expect(list.find((x) => x.id === row.id)!.scopes).toEqual(["packages:read", "packages:write", "webhooks:read", "webhooks:write", "tokens:write", "admin"]);
    const userList = (await (await t.fetch("/me/tokens", { token: alice.token })).json()) as Created[];
    expect(userList.find((x) => x.scopes.length === 5)?.scopes).not.toContain("admin");
  });

  it("POST /auth/token takes scopes too, checked against the user's role", async () => {
    const login = (scopes: unknown) => t.fetch("/auth/token", { method: "POST", json: { email: alice.user.email, password: alice.password, name: "ci", scopes } });
    const res = await login(["packages:read"]);
    expect(res.status).toBe(201);
    const created = (await res.json()) as Created;
    expect(created.scopes).toEqual(["packages:read"]);
    await expectError(await newPackage(created.token), 403, "insufficient_scope");
    await expectError(await login(["admin"]), 403, "admin_required");
    await expectValidationError(await login([]), "/body/scopes");
    const plain = await t.fetch("/auth/token", { method: "POST", json: { email: alice.user.email, password: alice.password, name: "ci" } });
    expect(((await plain.json()) as Created).scopes).toEqual(["packages:read", "packages:write", "webhooks:read", "webhooks:write", "tokens:write"]);
  });

  it("the web form offers the role's scopes, all ticked; unticking limits the token; none ticked is the form again", async () => {
    const c = await signedIn(t, alice.user.email, alice.password);
    const page = await (await c.get("/account/tokens")).text();
    const boxes = [...page.matchAll(/<input type="checkbox" name="scopes" value="([^"]+)"( checked)?>/g)];
    expect(boxes.map((b) => b[1])).toEqual(["packages:read", "packages:write", "webhooks:read", "webhooks:write", "tokens:write"]);
    expect(boxes.every((b) => b[2] === " checked")).toBe(true);
    const csrf = csrfOf(page);

    const res = await c.post("/account/tokens", { _csrf: csrf, name: "<b>deploy</b>", scopes_offered: "1", scopes: ["packages:write", "packages:read"] });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/account/tokens");
    const after = await (await c.get("/account/tokens")).text();
    expect(after).toContain("&lt;b&gt;deploy&lt;/b&gt;");
    expect(after).not.toContain("<b>deploy</b>");
    const raw = /id="new-token"[^>]*value="(sf_[A-Za-z0-9_-]{43})"/.exec(after)![1]!;
    expect((await t.fetch("/packages", { token: raw })).status).toBe(200);
    await expectError(await t.fetch("/webhooks", { token: raw }), 403, "insufficient_scope");
    expect(after).toMatch(/<td class="scopes"><code>packages:read<\/code>, <code>packages:write<\/code><\/td>/);

    // Every box ticked: no limit, as before scopes could be chosen.
    const all = ["packages:read", "packages:write", "webhooks:read", "webhooks:write", "tokens:write"];
    expect((await c.post("/account/tokens", { _csrf: csrf, name: "everything", scopes_offered: "1", scopes: all })).status).toBe(303);
    const rows = (await t.running.services.db("api_tokens").where({ user_id: alice.user.id, name: "everything" }).select("scopes")) as { scopes: string | null }[];
    expect(rows.map((r) => r.scopes)).toEqual([null]);

    const before = await t.running.services.db("api_tokens").where({ user_id: alice.user.id }).count({ n: "*" });
    const none = await c.post("/account/tokens", { _csrf: csrf, name: "nothing", scopes_offered: "1" });
    expect(none.status).toBe(422);
    expect(await none.text()).toContain("Choose at least one scope.");
    expect(await c.post("/account/tokens", { _csrf: csrf, name: "forged", scopes_offered: "1", scopes: ["admin"] }).then((r) => r.status)).toBe(422);
    expect(await t.running.services.db("api_tokens").where({ user_id: alice.user.id }).count({ n: "*" })).toEqual(before);
    // Without the CSRF token nothing is made.
    expect((await c.post("/account/tokens", { name: "no csrf", scopes_offered: "1", scopes: ["packages:read"] })).status).toBe(403);
  });
});
