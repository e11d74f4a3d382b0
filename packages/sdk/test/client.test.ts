import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import {
  ApiError,
  AuthenticationError,
  ConflictError,
  createApiClient,
  NotFoundError,
  PermissionError,
  RateLimitError,
  SpeedyFiles,
  SpeedyFilesError,
  ValidationError,
  type Package,
} from "../src/index.js";
import { bytes } from "./helpers/tmp.js";

const draft = (title = "Q4 financials") => ({ title, recipient_email: "cfo@acme.com", recipient_name: "Acme CFO", direction: "outbound" as const, ttl_days: 14 });

describe.each(DATABASES)("SpeedyFiles client (%s)", (kind) => {
  let t: TestServer;
  let sf: SpeedyFiles;
  let token: string;
  beforeAll(async () => {
    t = await startTestServer(kind);
    ({ token } = await t.createUser());
    sf = new SpeedyFiles({ baseUrl: t.url, token });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("health() needs no token", async () => {
    const anon = new SpeedyFiles({ baseUrl: `${t.url}/api/v1/` });
    expect(await anon.health()).toMatchObject({ status: "ok", database: "ok", storage: "ok" });
    expect(anon.baseUrl).toBe(t.url);
  });

  it("reads SF_URL and SF_TOKEN when not given, and says what is missing", async () => {
    const saved = { url: process.env.SF_URL, token: process.env.SF_TOKEN };
    try {
      process.env.SF_URL = t.url;
      process.env.SF_TOKEN = token;
      const fromEnv = new SpeedyFiles();
      expect((await fromEnv.me()).role).toBe("user");
      delete process.env.SF_URL;
      expect(() => new SpeedyFiles()).toThrow(SpeedyFilesError);
      expect(() => new SpeedyFiles()).toThrow(/SF_URL/);
      delete process.env.SF_TOKEN;
      const noToken = new SpeedyFiles({ baseUrl: t.url });
      expect(() => noToken.uploadFile("x", Buffer.from("a"), { name: "a" })).toThrow(/SF_TOKEN/);
      await expect(noToken.me()).rejects.toBeInstanceOf(AuthenticationError);
    } finally {
      if (saved.url === undefined) delete process.env.SF_URL;
      else process.env.SF_URL = saved.url;
      if (saved.token === undefined) delete process.env.SF_TOKEN;
      else process.env.SF_TOKEN = saved.token;
    }
  });

  it("me()", async () => {
    const { user, token: tk } = await t.createUser();
    const me = await new SpeedyFiles({ baseUrl: t.url, token: tk }).me();
    expect(me).toMatchObject({ id: user.id, email: user.email, role: "user", disabled: false });
  });

  it("auth.login(email, password, name) returns a working token; a wrong password is an AuthenticationError", async () => {
    const { user, password } = await t.createUser();
    const anon = new SpeedyFiles({ baseUrl: t.url });
    const created = await anon.auth.login(user.email, password, "sdk test", { expires_in_days: 3 });
    expect(created.token).toMatch(/^sf_[A-Za-z0-9_-]{43}$/);
    expect(created.name).toBe("sdk test");
    expect(created.expires_at).not.toBeNull();
    expect((await new SpeedyFiles({ baseUrl: t.url, token: created.token }).me()).id).toBe(user.id);

    const err = await anon.auth.login(user.email, "wrong password", "x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(err).toMatchObject({ status: 401, code: "credentials_invalid", method: "POST" });
    expect(JSON.stringify(err)).not.toContain("wrong password");
  });

  it("tokens: list, create, revoke (the revoked token answers 401)", async () => {
    const { token: tk } = await t.createUser();
    const mine = new SpeedyFiles({ baseUrl: t.url, token: tk });
    const created = await mine.tokens.create("ci", { expires_in_days: 30 });
    expect(created.token).toMatch(/^sf_/);
    expect(created.prefix).toBe(created.token.slice(0, 11));
    const list = await mine.tokens.list();
    expect(list.map((x) => x.name).sort()).toEqual(["ci", "test"]);
    expect(JSON.stringify(list)).not.toContain(created.token);
    const ci = new SpeedyFiles({ baseUrl: t.url, token: created.token });
    await ci.me();
    await mine.tokens.revoke(created.id);
    await expect(ci.me()).rejects.toBeInstanceOf(AuthenticationError);
    expect((await mine.tokens.list()).map((x) => x.name)).toEqual(["test"]);
    await expect(mine.tokens.revoke(created.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("packages: create, get, list, finalize, revoke, delete", async () => {
    const { token: tk } = await t.createUser();
    const mine = new SpeedyFiles({ baseUrl: t.url, token: tk });
    const pkg = await mine.packages.create({ ...draft(), message: "see attached" });
    expect(pkg).toMatchObject({ status: "draft", title: "Q4 financials", recipient_name: "Acme CFO", message: "see attached", files: [], magic_link_state: "none" });

    await mine.uploadFile(pkg.id, Buffer.from("hello"), { name: "Q4-report.pdf", contentType: "application/pdf" });
    const got = await mine.packages.get(pkg.id);
    expect(got.files).toHaveLength(1);
    expect(got.files[0]).toMatchObject({ name: "Q4-report.pdf", size: 5, content_type: "application/pdf" });

    const fin = await mine.packages.finalize(pkg.id);
    expect(fin.status).toBe("active");
    expect(fin.magic_link).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
    expect(fin.expires_at).not.toBeNull();
    await expect(mine.packages.finalize(pkg.id)).rejects.toBeInstanceOf(ConflictError);

    const list = await mine.packages.list({ status: "active" });
    expect(list.total).toBe(1);
    expect(list.items[0]!.id).toBe(pkg.id);
    expect((await mine.packages.list({ status: "draft" })).total).toBe(0);
    expect((await mine.packages.list({ q: "q4 fin" })).total).toBe(1);
    expect((await mine.packages.list({ direction: "inbound" })).total).toBe(0);

    const revoked = await mine.packages.revoke(pkg.id);
    expect(revoked).toMatchObject({ status: "revoked", magic_link_state: "revoked" });
    await expect(mine.packages.revoke(pkg.id)).rejects.toMatchObject({ status: 409, code: "package_not_active" });

    await mine.packages.delete(pkg.id);
    await expect(mine.packages.get(pkg.id)).rejects.toBeInstanceOf(NotFoundError);
    expect((await mine.packages.list()).total).toBe(0);
  });

  it("files.upload / files.download / files.delete", async () => {
    const pkg = await sf.packages.create(draft("files"));
    const data = bytes(70_000, 3);
    const up = await sf.files.upload(pkg.id, data, { name: "dir/a.bin" });
    expect(up.name).toBe("dir/a.bin");
    const dest = `${t.dataDir}-dl-${up.id}`;
    const dl = await sf.files.download(pkg.id, up.id, dest);
    expect(dl).toEqual({ size: data.length, sha256: up.sha256 });
    await sf.files.delete(pkg.id, up.id);
    expect((await sf.packages.get(pkg.id)).files).toEqual([]);
    await expect(sf.files.delete(pkg.id, up.id)).rejects.toBeInstanceOf(NotFoundError);
    await sf.packages.delete(pkg.id);
  });

  it("packages.iterate walks every page", async () => {
    const { token: tk } = await t.createUser();
    const mine = new SpeedyFiles({ baseUrl: t.url, token: tk });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await mine.packages.create(draft(`iter ${i}`))).id);
    await mine.packages.create({ ...draft("other"), direction: "inbound" });

    const seen: Package[] = [];
    for await (const p of mine.packages.iterate({ per_page: 2, direction: "outbound" })) seen.push(p);
    expect(seen).toHaveLength(7); // 4 pages of 2
    expect(new Set(seen.map((p) => p.id))).toEqual(new Set(ids));

    const all: string[] = [];
    for await (const p of mine.packages.iterate({ per_page: 3 })) all.push(p.title);
    expect(all).toHaveLength(8);
    const none: Package[] = [];
    for await (const p of mine.packages.iterate({ q: "no such title" })) none.push(p);
    expect(none).toEqual([]);
    // Stops early without fetching the rest.
    for await (const p of mine.packages.iterate({ per_page: 1 })) {
      expect(p.id).toBeTruthy();
      break;
    }
  });

  it("packages.iterate neither repeats nor includes packages created during the walk; toArray({ limit })", async () => {
    const { token: tk } = await t.createUser();
    const mine = new SpeedyFiles({ baseUrl: t.url, token: tk });
    const before: string[] = [];
    for (let i = 0; i < 7; i++) {
      t.clock.advance(1000);
      before.push((await mine.packages.create(draft(`walk ${i}`))).id);
    }
    const seen: string[] = [];
    for await (const p of mine.packages.iterate({ per_page: 2 })) {
      seen.push(p.id);
      // New packages arrive while the walk is on page 1 and again on page 3: each pushes every
      // older package one place down the offset pages.
      if (seen.length === 1 || seen.length === 5) {
        for (let j = 0; j < 3; j++) {
          t.clock.advance(1000);
          await mine.packages.create(draft(`new ${seen.length}-${j}`));
        }
      }
    }
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    expect([...seen].sort()).toEqual([...before].sort());

    const firstThree = await mine.packages.iterate({ per_page: 2 }).toArray({ limit: 3 });
    expect(firstThree).toHaveLength(3);
    expect((await mine.packages.iterate({ per_page: 5 }).toArray()).length).toBe(13);
    expect(await mine.packages.iterate({ q: "no such title" }).toArray()).toEqual([]);
  });

  it("admin.users: list, create, update; a user gets PermissionError; duplicates ConflictError", async () => {
    const { token: adminToken, user: admin } = await t.createUser({ role: "admin" });
    const root = new SpeedyFiles({ baseUrl: t.url, token: adminToken });
    const email = `bob-${Date.now()}@example.com`;
    const bob = await root.admin.users.create({ email, name: "Bob", password: "a long passphrase", role: "user" });
    expect(bob).toMatchObject({ email, name: "Bob", role: "user", disabled: false });
    const page = await root.admin.users.list({ q: email });
    expect(page.items.map((u) => u.id)).toEqual([bob.id]);
    const updated = await root.admin.users.update(bob.id, { disabled: true, name: "Robert" });
    expect(updated).toMatchObject({ disabled: true, name: "Robert" });
    await expect(new SpeedyFiles({ baseUrl: t.url }).auth.login(email, "a long passphrase", "x")).rejects.toBeInstanceOf(AuthenticationError);

    const dup = await root.admin.users.create({ email, name: "Bob 2", password: "a long passphrase" }).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(ConflictError);
    expect((dup as ConflictError).code).toBe("email_taken");

    const self = await root.admin.users.update(admin.id, { role: "user" }).catch((e: unknown) => e);
    expect(self).toBeInstanceOf(ValidationError);

    const err = await sf.admin.users.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermissionError);
    expect(err).toMatchObject({ status: 403, code: "admin_required", method: "GET" });
  });

  it("another user's package is 403/404, a random id 404", async () => {
    const pkg = await sf.packages.create(draft("private"));
    const { token: other } = await t.createUser();
    const them = new SpeedyFiles({ baseUrl: t.url, token: other });
    const err = await them.packages.get(pkg.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect([403, 404]).toContain((err as ApiError).status);
    await expect(sf.packages.get("00000000-0000-4000-8000-000000000000")).rejects.toBeInstanceOf(NotFoundError);
  });

  it("typed errors carry status, detail, errors[], method, url and request id, never the token", async () => {
    const err = await sf.packages
      // @ts-expect-error the server's validation is what is tested here
      .create({ title: "", recipient_email: "not an email", direction: "sideways", ttl_days: 0 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toBeInstanceOf(SpeedyFilesError);
    const e = err as ValidationError;
    expect(e.status).toBe(422);
    expect(e.code).toBe("validation_failed");
    expect(e.detail).toBeTruthy();
    expect(e.errors.length).toBeGreaterThan(0);
    expect(e.errors.map((x) => x.path).join(" ")).toMatch(/recipient_email|title|ttl_days|direction/);
    expect(e.method).toBe("POST");
    expect(e.url).toBe(`${t.url}/api/v1/packages`);
    expect(e.requestId).toMatch(/\S+/);
    expect(e.name).toBe("ValidationError");
    expect(e.message).toContain("POST");
    expect(e.message).toContain("422");
    for (const s of [e.message, JSON.stringify(e), String(e.stack), JSON.stringify(Object.entries(e))]) expect(s).not.toContain(token);
    const parsed = JSON.parse(JSON.stringify(e)) as Record<string, unknown>;
    expect(parsed).toMatchObject({ status: 422, code: "validation_failed", method: "POST", requestId: e.requestId });

    const bad = new SpeedyFiles({ baseUrl: t.url, token: "sf_" + "x".repeat(43) });
    const authErr = await bad.me().catch((x: unknown) => x);
    expect(authErr).toBeInstanceOf(AuthenticationError);
    expect(JSON.stringify(authErr) + (authErr as Error).message).not.toContain("x".repeat(43));
  });

  it("the low-level openapi-fetch client is typed and shares auth and retries", async () => {
    const api = createApiClient({ baseUrl: t.url, token });
    const { data, error, response } = await api.GET("/packages", { params: { query: { per_page: 5 } } });
    expect(response.status).toBe(200);
    expect(error).toBeUndefined();
    expect(data!.per_page).toBe(5);
    const nf = await api.GET("/packages/{id}", { params: { path: { id: "00000000-0000-4000-8000-000000000000" } } });
    expect(nf.response.status).toBe(404);
    expect(nf.error).toMatchObject({ detail: expect.any(String) });
    expect((await sf.api.GET("/me")).data!.role).toBe("user");
  });

  it("repeated failed logins → RateLimitError with retryAfter (POST, so not retried)", async () => {
    const limited = await startTestServer(kind, { env: { SF_LOGIN_MAX_FAILURES_PER_ACCOUNT: "2" } });
    try {
      const { user } = await limited.createUser();
      const anon = new SpeedyFiles({ baseUrl: limited.url });
      let last: unknown;
      for (let i = 0; i < 4 && !(last instanceof RateLimitError); i++) last = await anon.auth.login(user.email, "nope nope", "x").catch((e: unknown) => e);
      expect(last).toBeInstanceOf(RateLimitError);
      expect((last as RateLimitError).code).toBe("rate_limited");
      expect((last as RateLimitError).retryAfter).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});
