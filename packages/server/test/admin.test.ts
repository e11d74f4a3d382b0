import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError, expectUnauthorized, expectValidationError, RAW_TOKEN, UUID } from "@speedyfiles/test-utils/expect";

interface ApiUser {
  id: string;
  email: string;
  name: string;
  role: "user" | "admin";
  disabled: boolean;
  created_at: string;
}
interface UserList {
  items: ApiUser[];
  total: number;
  page: number;
  per_page: number;
}

/** A fresh tag for emails and names, so each test can find exactly its own users. */
const tag = () => crypto.randomBytes(4).toString("hex");

describe.each(DATABASES)("admin users (%s)", (kind) => {
  let t: TestServer;
  let admin: Awaited<ReturnType<TestServer["createUser"]>>;
  let plain: Awaited<ReturnType<TestServer["createUser"]>>;

  const createUser = (body: Record<string, unknown>, token = admin.token) => t.fetch("/admin/users", { method: "POST", token, json: body });
  const patchUser = (id: string, body: Record<string, unknown>, token = admin.token) => t.fetch(`/admin/users/${id}`, { method: "PATCH", token, json: body });
  const listUsers = async (query: string, token = admin.token): Promise<UserList> => {
    const res = await t.fetch(`/admin/users${query}`, { token });
    expect(res.status).toBe(200);
    return (await res.json()) as UserList;
  };
  const findByEmail = async (email: string) => (await listUsers(`?q=${encodeURIComponent(email)}`)).items;
  const login = (email: string, password: string) => t.fetch("/auth/token", { method: "POST", json: { email, password, name: "test" } });

  beforeAll(async () => {
    t = await startTestServer(kind);
    [admin, plain] = await Promise.all([t.createUser({ role: "admin" }), t.createUser()]);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("refuses a plain user with 403 and an anonymous caller with 401 on every admin endpoint", async () => {
    const email = `sneaky-${tag()}@example.com`;
    const calls: [string, RequestInit & { json?: unknown }][] = [
      ["/admin/users", {}],
      ["/admin/users", { method: "POST", json: { email, name: "Sneaky", password: "password123", role: "admin" } }],
      [`/admin/users/${plain.user.id}`, { method: "PATCH", json: { role: "admin" } }],
      [`/admin/users/${admin.user.id}`, { method: "PATCH", json: { disabled: true } }],
    ];
    for (const [path, init] of calls) {
      await expectError(await t.fetch(path, { ...init, token: plain.token }), 403);
      await expectUnauthorized(await t.fetch(path, init));
    }
    // Nothing happened.
    expect(await findByEmail(email)).toEqual([]);
    const [me] = await findByEmail(plain.user.email);
    expect(me).toMatchObject({ role: "user" });
    expect((await t.fetch("/me", { token: admin.token })).status).toBe(200);
  });

  it("creates a user, storing the email lower-cased, who can then log in", async () => {
    const local = `Dora-${tag()}`;
    const res = await createUser({ email: `${local}@Example.COM`, name: "Dora", password: "correct horse" });
    expect(res.status).toBe(201);
    const user = (await res.json()) as ApiUser;
    expect(user).toEqual({
      id: expect.stringMatching(UUID),
      email: `${local.toLowerCase()}@example.com`,
      name: "Dora",
      role: "user",
      disabled: false,
      created_at: t.clock.now().toISOString(),
    });
    expect(await findByEmail(user.email)).toEqual([user]);

    const session = await login(`${local}@example.com`, "correct horse");
    expect(session.status).toBe(201);
    const { token } = await session.json();
    expect(token).toMatch(RAW_TOKEN);
    expect(await (await t.fetch("/me", { token })).json()).toEqual(user);
    // A plain user, so no admin endpoints.
    await expectError(await t.fetch("/admin/users", { token }), 403);
  });

  it("creates an admin when asked, who can use the admin endpoints", async () => {
    const email = `ed-${tag()}@example.com`;
    const res = await createUser({ email, name: "Ed", password: "password123", role: "admin" });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ email, role: "admin" });
    const { token } = await (await login(email, "password123")).json();
    expect((await t.fetch("/admin/users", { token })).status).toBe(200);
  });

  it("answers 409 for an email that is taken, whatever its case", async () => {
    const email = `fay-${tag()}@example.com`;
    expect((await createUser({ email, name: "Fay", password: "password123" })).status).toBe(201);
    await expectError(await createUser({ email, name: "Fay again", password: "password123" }), 409);
    await expectError(await createUser({ email: email.toUpperCase(), name: "FAY", password: "password123" }), 409);
    expect(await findByEmail(email)).toHaveLength(1);
    expect((await findByEmail(email))[0]!.name).toBe("Fay");
  });

  const valid = () => ({ email: `gus-${tag()}@example.com`, name: "Gus", password: "password123" });
  it.each<[string, () => Record<string, unknown>, string]>([
    ["a password of 7 characters", () => ({ ...valid(), password: "1234567" }), "/body/password"],
    ["a password over 1024 characters", () => ({ ...valid(), password: "p".repeat(1025) }), "/body/password"],
    ["an email that is not one", () => ({ ...valid(), email: "gus at example.com" }), "/body/email"],
    ["an unknown role", () => ({ ...valid(), role: "root" }), "/body/role"],
    ["an unknown field", () => ({ ...valid(), is_admin: true }), "/body"],
    ["a missing email", () => ({ name: "Gus", password: "password123" }), "/body/email"],
    ["a missing name", () => ({ email: `gus-${tag()}@example.com`, password: "password123" }), "/body/name"],
    ["a missing password", () => ({ email: `gus-${tag()}@example.com`, name: "Gus" }), "/body/password"],
    ["an empty name", () => ({ ...valid(), name: "" }), "/body/name"],
    ["a name with a control character", () => ({ ...valid(), name: "Gus\u0000" }), "/body/name"],
  ])("rejects a new user with %s: 422, nobody created", async (_label, body, field) => {
    const b = body();
    await expectValidationError(await createUser(b), field);
    if (typeof b.email === "string" && b.email.includes("@")) expect(await findByEmail(b.email)).toEqual([]);
  });

  it("renames a user", async () => {
    const u = await t.createUser();
    const res = await patchUser(u.user.id, { name: "  Renamed  " });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ...u.user, name: "Renamed" });
    expect(await (await t.fetch("/me", { token: u.token })).json()).toMatchObject({ name: "Renamed" });
  });

  it("promotes and demotes: existing tokens follow the new role at once", async () => {
    const u = await t.createUser();
    await expectError(await t.fetch("/admin/users", { token: u.token }), 403);

    const up = await patchUser(u.user.id, { role: "admin" });
    expect(up.status).toBe(200);
    expect(await up.json()).toMatchObject({ id: u.user.id, role: "admin" });
    expect((await t.fetch("/admin/users", { token: u.token })).status).toBe(200);

    expect((await patchUser(u.user.id, { role: "user" })).status).toBe(200);
    await expectError(await t.fetch("/admin/users", { token: u.token }), 403);
  });

  it("changes a password: the new one logs in, the old one no longer does", async () => {
    const u = await t.createUser();
    const res = await patchUser(u.user.id, { password: "a brand new passphrase" });
    expect(res.status).toBe(200);
    expect(JSON.stringify(await res.json())).not.toContain("passphrase");

    await expectError(await login(u.user.email, u.password), 401);
    expect((await login(u.user.email, "a brand new passphrase")).status).toBe(201);
  });

  it("disables a user: their tokens and logins stop; enabling brings the same tokens back", async () => {
    const u = await t.createUser();
    expect((await t.fetch("/me", { token: u.token })).status).toBe(200);

    const off = await patchUser(u.user.id, { disabled: true });
    expect(off.status).toBe(200);
    expect(await off.json()).toEqual({ ...u.user, disabled: true });
    await expectUnauthorized(await t.fetch("/me", { token: u.token }));
    await expectUnauthorized(await t.fetch("/me/tokens", { method: "POST", token: u.token, json: { name: "sneak" } }));
    await expectError(await login(u.user.email, u.password), 401);
    expect((await findByEmail(u.user.email))[0]).toMatchObject({ disabled: true });

    const on = await patchUser(u.user.id, { disabled: false });
    expect(on.status).toBe(200);
    expect(await on.json()).toMatchObject({ disabled: false });
    expect((await t.fetch("/me", { token: u.token })).status).toBe(200);
    expect((await login(u.user.email, u.password)).status).toBe(201);
  });

  it("does not let an admin disable or demote themselves (422), however the id is written", async () => {
    for (const id of [admin.user.id, admin.user.id.toUpperCase()]) {
      await expectValidationError(await patchUser(id, { disabled: true }), "/body/disabled");
      await expectValidationError(await patchUser(id, { role: "user" }), "/body/role");
      await expectValidationError(await patchUser(id, { name: "Still me", role: "user" }), "/body/role");
    }
    const me = await (await t.fetch("/me", { token: admin.token })).json();
    expect(me).toMatchObject({ role: "admin", disabled: false, name: admin.user.name });
    // Other changes to oneself are fine.
    expect((await patchUser(admin.user.id, { role: "admin", disabled: false })).status).toBe(200);
  });

  it("lets one admin disable another", async () => {
    const other = await t.createUser({ role: "admin" });
    expect((await patchUser(other.user.id, { disabled: true })).status).toBe(200);
    await expectUnauthorized(await t.fetch("/admin/users", { token: other.token }));
  });

  it("answers 404 for an unknown user and 422 for an id that is not a UUID", async () => {
    await expectError(await patchUser(crypto.randomUUID(), { name: "Nobody" }), 404);
    await expectValidationError(await patchUser("42", { name: "Nobody" }), "/params/id");
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["an empty body", {}, "/body"],
    ["a password of 7 characters", { password: "1234567" }, "/body/password"],
    ["an unknown role", { role: "superuser" }, "/body/role"],
    ["a word for disabled", { disabled: "maybe" }, "/body/disabled"],
    ["an email (which cannot be changed)", { email: "new@example.com" }, "/body"],
    ["an empty name", { name: "" }, "/body/name"],
    ["a blank name", { name: "   " }, "/body/name"],
    ["a name with a control character", { name: "Hal\u0000" }, "/body/name"],
  ])("rejects an update with %s: 422, user unchanged", async (_label, body, field) => {
    await expectValidationError(await patchUser(plain.user.id, body), field);
    expect((await findByEmail(plain.user.email))[0]).toEqual(plain.user);
  });

  it("lists users oldest first, a page at a time", async () => {
    const group = tag();
    const created: ApiUser[] = [];
    for (let i = 0; i < 3; i++) {
      t.clock.advance(1000);
      const res = await createUser({ email: `page-${group}-${i}@example.com`, name: `Page ${i}`, password: "password123" });
      created.push((await res.json()) as ApiUser);
    }
    const ids = created.map((u) => u.id);

    const pages = [];
    for (const page of [1, 2, 3]) pages.push(await listUsers(`?q=${group}&per_page=2&page=${page}`));
    expect(pages.map((p) => p.items.map((u) => u.id))).toEqual([ids.slice(0, 2), ids.slice(2), []]);
    for (const [i, p] of pages.entries()) expect(p).toMatchObject({ total: 3, page: i + 1, per_page: 2 });
    expect(pages[0]!.items[0]).toEqual(created[0]);

    // Defaults: page 1, 20 per page; the whole instance is listed without q.
    const all = await listUsers("");
    expect(all).toMatchObject({ page: 1, per_page: 20 });
    expect(all.total).toBeGreaterThanOrEqual(5);
    expect(all.items.length).toBe(Math.min(20, all.total));
    expect(all.items[0]!.created_at <= all.items.at(-1)!.created_at).toBe(true);
    for (const u of all.items) expect(u).not.toHaveProperty("password_hash");
  });

  it.each([
    ["page=0", "/query/page"],
    ["per_page=0", "/query/per_page"],
    ["per_page=101", "/query/per_page"],
    ["page=two", "/query/page"],
    ["sort=email", "/query/sort"],
  ])("rejects ?%s with 422", async (query, field) => {
    await expectValidationError(await t.fetch(`/admin/users?${query}`, { token: admin.token }), field);
  });

  it("filters with q on email or name, case-insensitively, taking % _ and \\ literally", async () => {
    const group = tag();
    const make = async (local: string, name: string) => (await (await createUser({ email: `${local}-${group}@example.com`, name, password: "password123" })).json()) as ApiUser;
    const percent = await make("percent", `Sale 50% ${group}`);
    const under = await make("under", `Under_score ${group}`);
    const back = await make("back", `Back\\slash ${group}`);
    const upper = await make("upper", `IRIS ${group.toUpperCase()}`);

    const q = async (text: string) => (await listUsers(`?q=${encodeURIComponent(text)}&per_page=100`)).items.map((u) => u.id).sort();
    const everyone = [percent.id, under.id, back.id, upper.id].sort();
    expect(await q(group)).toEqual(everyone);
    expect(await q(group.toUpperCase())).toEqual(everyone);
    expect(await q(`iris ${group}`)).toEqual([upper.id]); // name, other case
    expect(await q(`PERCENT-${group}@EXAMPLE`)).toEqual([percent.id]); // email, other case
    expect(await q(`50% ${group}`)).toEqual([percent.id]);
    expect(await q("_")).toEqual([under.id]);
    expect(await q("\\")).toEqual([back.id]);
    expect(await q("%")).toEqual([percent.id]);
    expect(await listUsers(`?q=${encodeURIComponent("no-such-user-anywhere")}`)).toMatchObject({ items: [], total: 0 });
    await expectValidationError(await t.fetch(`/admin/users?q=%00`, { token: admin.token }), "/query/q");
  });
});
