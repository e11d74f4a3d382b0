import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError, expectUnauthorized, expectValidationError, RAW_TOKEN, UUID } from "@speedyfiles/test-utils/expect";

interface TokenCreated {
  id: string;
  name: string;
  prefix: string;
  token: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}
type ListedToken = Omit<TokenCreated, "token">;

describe.each(DATABASES)("API tokens (%s)", (kind) => {
  let t: TestServer;
  let alice: Awaited<ReturnType<TestServer["createUser"]>>;
  let bob: Awaited<ReturnType<TestServer["createUser"]>>;

  const create = async (token: string, body: Record<string, unknown> = { name: "ci" }): Promise<TokenCreated> => {
    const res = await t.fetch("/me/tokens", { method: "POST", token, json: body });
    expect(res.status).toBe(201);
    return (await res.json()) as TokenCreated;
  };
  const list = async (token: string): Promise<ListedToken[]> => {
    const res = await t.fetch("/me/tokens", { token });
    expect(res.status).toBe(200);
    return (await res.json()) as ListedToken[];
  };
  const revoke = (token: string, id: string) => t.fetch(`/me/tokens/${id}`, { method: "DELETE", token });
  const me = (token: string) => t.fetch("/me", { token });

  beforeAll(async () => {
    t = await startTestServer(kind);
    [alice, bob] = await Promise.all([t.createUser(), t.createUser()]);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("creates a token, shows the raw token once, and it works at once", async () => {
    const created = await create(alice.token, { name: "ci" });
    expect(created).toEqual({
      id: expect.stringMatching(UUID),
      name: "ci",
      prefix: created.token.slice(0, 11),
      token: expect.stringMatching(RAW_TOKEN),
      created_at: t.clock.now().toISOString(),
      expires_at: null,
      last_used_at: null,
      kind: "personal",
      scopes: ["packages:read", "packages:write", "webhooks:read", "webhooks:write", "tokens:write"],
    });
    expect(created.prefix).toMatch(/^sf_/);

    const res = await me(created.token);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: alice.user.id, email: alice.user.email });

    const listed = await list(alice.token);
    const entry = listed.find((x) => x.id === created.id);
    expect(entry).toEqual({ ...created, token: undefined, last_used_at: expect.any(String) });
    expect(Object.keys(entry!).sort()).toEqual(["created_at", "expires_at", "id", "kind", "last_used_at", "name", "prefix", "scopes"]);
  });

  it("never lists a raw token, for any of the caller's tokens", async () => {
    const a = await create(alice.token, { name: "a" });
    const b = await create(alice.token, { name: "b" });
    const text = await (await t.fetch("/me/tokens", { token: alice.token })).text();
    for (const raw of [a.token, b.token, alice.token]) {
      expect(text).not.toContain(raw);
      expect(text).not.toContain(raw.slice(11)); // nor the secret part after the prefix
    }
  });

  it("lists only the caller's live tokens, newest first", async () => {
    const carol = await t.createUser();
    const made: TokenCreated[] = [];
    for (const name of ["first", "second", "third"]) {
      t.clock.advance(1000);
      made.push(await create(carol.token, { name }));
    }
    expect((await revoke(carol.token, made[1]!.id)).status).toBe(204);

    const ids = (await list(carol.token)).map((x) => x.id);
    const ownTokenId = (await list(carol.token)).find((x) => x.name === "test")!.id; // from the factory
    expect(ids).toEqual([made[2]!.id, made[0]!.id, ownTokenId]);
    // None of Alice's or Bob's tokens leak into Carol's list, and hers not into theirs.
    const others = [...(await list(alice.token)), ...(await list(bob.token))].map((x) => x.id);
    expect(others.filter((id) => ids.includes(id))).toEqual([]);
  });

  it("makes tokens of 32 random bytes: 200 of them all different", async () => {
    const dora = await t.createUser();
    const tokens: TokenCreated[] = [];
    for (let batch = 0; batch < 8; batch++) {
      tokens.push(...(await Promise.all(Array.from({ length: 25 }, (_, i) => create(dora.token, { name: `t${batch}-${i}` })))));
    }
    for (const { token, prefix } of tokens) {
      expect(token).toMatch(RAW_TOKEN);
      expect(token).toHaveLength(46);
      const bytes = Buffer.from(token.slice(3), "base64url");
      expect(bytes).toHaveLength(32);
      expect(`sf_${bytes.toString("base64url")}`).toBe(token);
      expect(prefix).toBe(token.slice(0, 11));
    }
    expect(new Set(tokens.map((x) => x.token)).size).toBe(200);
    expect(new Set(tokens.map((x) => x.id)).size).toBe(200);
    expect((await list(dora.token)).length).toBe(201);
  });

  it("stores only the SHA-256 of a token, never the token itself", async () => {
    const created = await create(alice.token, { name: "hashed" });
    const rows = (await t.running.services.db("api_tokens")) as Record<string, unknown>[];
    const row = rows.find((r) => r.id === created.id);
    expect(row).toBeDefined();
    expect(row!.token_hash).toBe(crypto.createHash("sha256").update(created.token).digest("hex"));
    expect(row!.prefix).toBe(created.token.slice(0, 11));

    const secret = created.token.slice(11);
    for (const r of rows) {
      for (const [column, value] of Object.entries(r)) {
        const text = String(value);
        expect(text.includes(secret), `api_tokens.${column} holds the raw token`).toBe(false);
      }
    }
  });

  it("revokes a token: 204, then 401 for it, gone from the list, and 404 when revoked again", async () => {
    const created = await create(alice.token, { name: "to revoke" });
    expect((await me(created.token)).status).toBe(200);

    const res = await revoke(alice.token, created.id);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");

    await expectUnauthorized(await me(created.token));
    await expectUnauthorized(await t.fetch("/me/tokens", { token: created.token }));
    expect((await list(alice.token)).map((x) => x.id)).not.toContain(created.id);
    await expectError(await revoke(alice.token, created.id), 404);
    // The caller's other tokens are untouched.
    expect((await me(alice.token)).status).toBe(200);
  });

  it("lets a token revoke itself", async () => {
    const created = await create(alice.token, { name: "self" });
    expect((await revoke(created.token, created.id)).status).toBe(204);
    await expectUnauthorized(await me(created.token));
  });

  it("answers 404 for another user's token id, and that token keeps working", async () => {
    const bobs = await create(bob.token, { name: "bob's" });
    await expectError(await revoke(alice.token, bobs.id), 404);
    expect((await me(bobs.token)).status).toBe(200);
    expect((await list(bob.token)).map((x) => x.id)).toContain(bobs.id);
  });

  it("answers 404 for an unknown id and 422 for one that is not a UUID", async () => {
    await expectError(await revoke(alice.token, crypto.randomUUID()), 404);
    await expectValidationError(await revoke(alice.token, "not-a-uuid"), "/params/id");
    await expectValidationError(await revoke(alice.token, "1234"), "/params/id");
  });

  it("accepts a token id in upper case, like any UUID", async () => {
    const created = await create(alice.token, { name: "upper" });
    expect((await revoke(alice.token, created.id.toUpperCase())).status).toBe(204);
    await expectUnauthorized(await me(created.token));
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["a missing name", { expires_in_days: 3 }, "/body/name"],
    ["an empty name", { name: "" }, "/body/name"],
    ["a name over 100 characters", { name: "n".repeat(101) }, "/body/name"],
    ["a name with a control character", { name: "c\u0000i" }, "/body/name"],
    ["expires_in_days of 0", { name: "x", expires_in_days: 0 }, "/body/expires_in_days"],
    ["expires_in_days over 3650", { name: "x", expires_in_days: 3651 }, "/body/expires_in_days"],
    ["a word for expires_in_days", { name: "x", expires_in_days: "never" }, "/body/expires_in_days"],
    ["an unknown field", { name: "x", permissions: ["admin"] }, "/body"],
  ])("rejects a create body with %s: 422, no token made", async (_label, body, field) => {
    const before = (await list(alice.token)).length;
    await expectValidationError(await t.fetch("/me/tokens", { method: "POST", token: alice.token, json: body }), field);
    expect((await list(alice.token)).length).toBe(before);
  });

  it("keeps a 100-character name, and names a blank one", async () => {
    expect((await create(alice.token, { name: "n".repeat(100) })).name).toBe("n".repeat(100));
    const blank = await create(alice.token, { name: "   " });
    expect(blank.name.trim()).not.toBe("");
  });

  it("expires a token at expires_at and not before", async () => {
    const created = await create(alice.token, { name: "two days", expires_in_days: 2 });
    expect(Date.parse(created.expires_at!) - Date.parse(created.created_at)).toBe(2 * 86_400_000);

    t.clock.advance(2 * 86_400_000 - 60_000);
    expect((await me(created.token)).status).toBe(200);
    t.clock.advance(60_000);
    await expectUnauthorized(await me(created.token));
    await expectUnauthorized(await t.fetch("/me/tokens", { token: created.token }));
    expect((await me(alice.token)).status).toBe(200); // no expiry, still fine
  });

  it("records when a token was last used", async () => {
    const created = await create(alice.token, { name: "usage" });
    expect(created.last_used_at).toBeNull();
    expect((await list(alice.token)).find((x) => x.id === created.id)!.last_used_at).toBeNull();

    const firstUse = t.clock.now().toISOString();
    expect((await me(created.token)).status).toBe(200);
    expect((await list(alice.token)).find((x) => x.id === created.id)!.last_used_at).toBe(firstUse);

    t.clock.advance(10 * 60_000);
    const laterUse = t.clock.now().toISOString();
    expect((await me(created.token)).status).toBe(200);
    expect((await list(alice.token)).find((x) => x.id === created.id)!.last_used_at).toBe(laterUse);
  });

  describe("bad credentials", () => {
    it.each<[string, (valid: string) => string | undefined]>([
      ["no Authorization header", () => undefined],
      ["the scheme without a token", () => "Bearer"],
      ["an empty header", () => ""],
      ["Basic credentials", () => `Basic ${Buffer.from(`${alice.user.email}:${alice.password}`).toString("base64")}`],
      ["a valid token under another scheme", (valid) => `Token ${valid}`],
      ["a valid token without a scheme", (valid) => valid],
      ["something that is not a token", () => "Bearer not-a-token"],
      ["a valid token with a character added", (valid) => `Bearer ${valid}A`],
      ["a valid token with a character removed", (valid) => `Bearer ${valid.slice(0, -1)}`],
      ["a valid token followed by more text", (valid) => `Bearer ${valid} ${valid}`],
      ["a well-formed token that was never issued", () => `Bearer sf_${crypto.randomBytes(32).toString("base64url")}`],
    ])("answers %s with 401 and WWW-Authenticate", async (_label, header) => {
      const value = header(alice.token);
      const headers: Record<string, string> = value === undefined ? {} : { Authorization: value };
      await expectUnauthorized(await t.fetch("/me", { headers }));
      await expectUnauthorized(await t.fetch("/me/tokens", { method: "POST", headers, json: { name: "x" } }));
    });

    it("accepts the scheme name in any case", async () => {
      const res = await t.fetch("/me", { headers: { Authorization: `bearer ${alice.token}` } });
      expect(res.status).toBe(200);
    });
  });
});
