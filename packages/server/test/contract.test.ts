import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError, expectUnauthorized } from "@speedyfiles/test-utils/expect";
import { addFile, createPackage, sha256, until } from "@speedyfiles/test-utils/uploads";
import { shareFiles } from "@speedyfiles/test-utils/links";
import { loadSpec } from "../src/spec.js";
import { handlers } from "../src/routes/index.js";
import { specRouter } from "../src/http/router.js";
import { AUTHENTICATORS } from "../src/http/authenticators/index.js";
import { SCOPES } from "../src/policies/index.js";
import type { Services } from "../src/services/context.js";

interface Operation {
  operationId: string;
  security?: Record<string, string[]>[];
  requestBody?: { content: Record<string, unknown> };
}
type Spec = {
  security: Record<string, string[]>[];
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, { enum?: string[] }> };
};

const spec = loadSpec() as unknown as Spec;
const METHODS = ["get", "head", "post", "put", "patch", "delete", "options"];
const operations = Object.entries(spec.paths).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([method]) => METHODS.includes(method))
    .map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
);
const secured = operations.filter(({ op }) => {
  const security = op.security ?? spec.security;
  return security.length > 0 && !security.some((alt) => Object.keys(alt).length === 0);
});
const UUID = "7d0f1a32-5c1e-4b8e-9a39-0b6f3f0c1c36";
const concrete = (path: string) => path.replace(/\{[^}]+\}/g, UUID);

describe("the contract drives the server", () => {
  it("has a handler named after every operationId, and no other", () => {
    const ids = operations.map(({ op }) => op.operationId).sort();
    expect(Object.keys(handlers).sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("declares the error codes the server uses, with every error response carrying one", () => {
    const schemas = (loadSpec() as { components: { schemas: Record<string, { required?: string[]; enum?: string[] }> } }).components.schemas;
    expect(schemas.Error!.required).toEqual(["detail", "code"]);
    for (const code of ["token_invalid", "package_not_found", "file_name_invalid", "limit_exceeded", "insufficient_storage"]) {
      expect(schemas.ErrorCode!.enum).toContain(code);
    }
  });
});

describe("the contract says who may do what", () => {
  // Who-am-I and the caller's own rules answer any caller, whatever its scopes.
  const ANY_SCOPE = ["getMe", "getMyPolicy"];

  it("names a scope for every operation that needs a caller, from the fixed vocabulary", () => {
    expect(secured.length).toBeGreaterThan(30);
    for (const { op } of secured) {
      // Declared on the operation itself: the document-wide default names no scope.
      expect(op.security, op.operationId).toBeDefined();
      for (const alt of op.security!) {
        for (const scopes of Object.values(alt)) {
          if (!ANY_SCOPE.includes(op.operationId)) expect(scopes.length, op.operationId).toBeGreaterThan(0);
          for (const scope of scopes) expect(SCOPES, `${op.operationId}: ${scope}`).toContain(scope);
        }
      }
      // Every scheme asks the same scope, so a caller's rights do not depend on how they signed in.
      expect(new Set(op.security!.map((alt) => JSON.stringify(Object.values(alt)[0]))).size, op.operationId).toBe(1);
    }
    expect(spec.components.schemas.Scope!.enum).toEqual([...SCOPES]);
    expect(SCOPES).toEqual(["packages:read", "packages:write", "webhooks:read", "webhooks:write", "tokens:write", "admin"]);
    expect(JSON.stringify(spec)).not.toContain("x-speedyfiles-role");
  });

  it("has an authenticator for every security scheme, and no other", () => {
    expect(Object.keys(AUTHENTICATORS).sort()).toEqual(Object.keys(spec.components.securitySchemes).sort());
  });

  it("refuses to start with an operation naming an unknown security scheme or scope", () => {
    const build = (security: unknown) => {
      const copy = structuredClone(loadSpec()) as unknown as Spec;
      copy.paths["/me"]!.get!.security = security as Record<string, string[]>[];
      return () => specRouter({ metrics: { enabled: false } } as unknown as Services, handlers, { validateResponses: false, spec: copy as unknown as Record<string, unknown> });
    };
    expect(build([{ bearerAuth: [] }, { sessionCookie: [] }])).not.toThrow();
    expect(build([{ apiKeyAuth: [] }])).toThrow(/getMe: security scheme 'apiKeyAuth' has no authenticator/);
    expect(build([{ bearerAuth: ["packages:delete"] }])).toThrow(/getMe: bearerAuth's scopes must be a list of known scopes/);
    expect(build([{ bearerAuth: [], sessionCookie: [] }])).toThrow(/each security alternative names one scheme/);
  });
});

describe.each(DATABASES)("the contract drives the server (%s)", (kind) => {
  let t: TestServer;
  let alice: Awaited<ReturnType<TestServer["createUser"]>>;
  beforeAll(async () => {
    t = await startTestServer(kind);
    alice = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
  });

  describe("authentication comes before everything else about a request", () => {
    it.each(secured.map((o) => [`${o.method} ${o.path}`, o] as const))("anonymous %s is 401 whatever its body", async (_name, o) => {
      const url = `${t.api}${concrete(o.path)}`;
      const bodies: (RequestInit | undefined)[] =
        o.method === "GET" || o.method === "HEAD"
          ? [undefined]
          : [
              { body: "{}", headers: { "Content-Type": "application/json" } },
              { body: "{not json", headers: { "Content-Type": "application/json" } },
              { body: "x".repeat(2 * 1024 * 1024), headers: { "Content-Type": "application/json" } },
              { body: "plain", headers: { "Content-Type": "text/plain" } },
            ];
      for (const init of bodies) {
        const res = await fetch(url, { method: o.method, ...init });
        if (o.method === "HEAD") {
          expect(res.status).toBe(401);
          expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
          continue;
        }
        const body = await expectUnauthorized(res, "token_missing");
        // Nothing about the schema leaks to a caller who is not signed in.
        expect(body.errors).toBeUndefined();
      }
      // A wrong token gets the same treatment.
      const wrong = await fetch(url, { method: o.method, headers: { Authorization: `Bearer sf_${"A".repeat(43)}` } });
      expect(wrong.status).toBe(401);
    });

    it("admin operations answer 403 admin_required to a user, before looking at the body", async () => {
      const admin = secured.filter(({ op }) => op.security?.every((alt) => Object.values(alt).every((scopes) => scopes.includes("admin"))));
      expect(admin.length).toBe(12);
      for (const o of admin) {
        const res = await fetch(`${t.api}${concrete(o.path)}`, {
          method: o.method,
          headers: { Authorization: `Bearer ${alice.token}`, "Content-Type": "application/json" },
          ...(o.method === "GET" ? {} : { body: "{broken" }),
        });
        await expectError(res, 403, "admin_required");
      }
    });
  });

  describe("the statuses the server answers to malformed requests are declared", () => {
    const declared = (o: (typeof operations)[number]) => Object.keys((o.op as unknown as { responses: Record<string, unknown> }).responses);
    const auth = (o: (typeof operations)[number]): Record<string, string> => (secured.includes(o) ? { Authorization: `Bearer ${alice.token}` } : {});

    it("an unknown query parameter, on every operation", async () => {
      const wrong: string[] = [];
      for (const o of operations) {
        const path = concrete(o.path).replace(/\/links\/[^/]+/, `/links/${"A".repeat(43)}`);
        const res = await fetch(`${t.api}${path}?no_such_parameter=1`, { method: o.method, headers: auth(o) });
        await res.arrayBuffer();
        if (!declared(o).includes(String(res.status))) wrong.push(`${o.method} ${o.path}: ${res.status}`);
      }
      expect(wrong).toEqual([]);
    });

    it("a JSON body over 1 MiB, on every operation that takes JSON", async () => {
      const wrong: string[] = [];
      for (const o of operations.filter((x) => x.op.requestBody?.content["application/json"])) {
        const res = await fetch(`${t.api}${concrete(o.path)}`, {
          method: o.method,
          headers: { ...auth(o), "Content-Type": "application/json" },
          body: JSON.stringify({ a: "x".repeat(1_100_000) }),
        });
        await res.arrayBuffer();
        if (!declared(o).includes(String(res.status))) wrong.push(`${o.method} ${o.path}: ${res.status}`);
      }
      expect(wrong).toEqual([]);
    });

    it("a resumable upload's HEAD and DELETE without Tus-Resumable", async () => {
      const inbound = await createPackage(t, alice.token, { direction: "inbound", title: "Send me" });
      const res = await t.fetch(`/packages/${inbound.id}/uploads`, {
        method: "POST",
        token: alice.token,
        headers: { "Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": `filename ${Buffer.from("a.txt").toString("base64")}` },
      });
      expect(res.status).toBe(201);
      const url = new URL(res.headers.get("location")!, t.url).toString();
      const wrong: string[] = [];
      for (const o of operations.filter((x) => x.path === "/packages/{id}/uploads/{upload_id}" && x.method !== "PATCH")) {
        const answer = await fetch(url, { method: o.method, headers: auth(o) });
        await answer.arrayBuffer();
        if (answer.status !== 412 || !declared(o).includes("412")) wrong.push(`${o.method} ${o.path}: ${answer.status}`);
      }
      expect(wrong).toEqual([]);
    });
  });

  describe("HEAD wherever GET serves a file", () => {
    it("owner file, link file and archive: the GET's status and headers, no body, no download counted", async () => {
      const bytes = crypto.randomBytes(70_000);
      const s = await shareFiles(
        t,
        alice.token,
        [
          ["report.pdf", bytes],
          ["notes.txt", "notes"],
        ],
        { title: "Head test" },
      );
      const f = s.files[0]!;
      const urls: [string, Record<string, string>][] = [
        [`${t.api}/packages/${s.id}/files/${f.id}`, { Authorization: `Bearer ${alice.token}` }],
        [`${s.api}/files/${f.id}`, {}],
        [`${s.api}/archive`, {}],
      ];
      for (const [url, headers] of urls) {
        const head = await fetch(url, { method: "HEAD", headers });
        expect({ url, status: head.status }).toEqual({ url, status: 200 });
        expect(Buffer.from(await head.arrayBuffer()).length).toBe(0);
        const get = await fetch(url, { headers });
        expect(get.status).toBe(200);
        const got = Buffer.from(await get.arrayBuffer());
        expect(head.headers.get("content-length")).toBe(String(got.length));
        for (const h of ["content-type", "content-disposition", "etag", "accept-ranges", "content-security-policy", "x-content-type-options"]) {
          expect({ url, h, v: head.headers.get(h) }).toEqual({ url, h, v: get.headers.get(h) });
        }
      }
      // A ranged HEAD says what the range would be.
      const ranged = await fetch(`${s.api}/files/${f.id}`, { method: "HEAD", headers: { Range: "bytes=10-19" } });
      expect(ranged.status).toBe(206);
      expect(ranged.headers.get("content-range")).toBe(`bytes 10-19/${bytes.length}`);
      expect(ranged.headers.get("content-length")).toBe("10");
      // HEAD of a dead or unknown file is the GET's error status.
      expect((await fetch(`${s.api}/files/${UUID}`, { method: "HEAD" })).status).toBe(404);
      expect((await fetch(`${t.api}/packages/${s.id}/files/${f.id}`, { method: "HEAD" })).status).toBe(401);

      // The three GETs count; the four HEADs do not.
      const events = async () => (await (await t.fetch(`/packages/${s.id}/events`, { token: alice.token })).json()) as { type: string }[];
      await until(async () => (await events()).length === 2, 5000, "the two link downloads recorded");
      await new Promise((r) => setTimeout(r, 200));
      expect((await events()).map((e) => e.type).sort()).toEqual(["archive_download", "file_download"]);
      expect(sha256(bytes)).toBe(f.sha256);
    });
  });

  describe("security headers come from one place", () => {
    it("JSON answers, pages, downloads and the docs each have their policy", async () => {
      const json = await t.fetch("/me", { token: alice.token });
      expect(json.headers.get("content-security-policy")).toBe("default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'");
      expect(json.headers.get("x-content-type-options")).toBe("nosniff");
      expect(json.headers.get("x-frame-options")).toBe("DENY");
      expect(json.headers.get("referrer-policy")).toBe("no-referrer");
      expect(json.headers.get("cross-origin-resource-policy")).toBe("same-origin");
      // HSTS means nothing on plain http; this server's public URL is http.
      expect(json.headers.get("strict-transport-security")).toBeNull();
      expect(json.headers.get("x-powered-by")).toBeNull();

      const s = await shareFiles(t, alice.token, [["a.html", "<script>alert(1)</script>"]]);
      const page = await fetch(s.page);
      expect(page.headers.get("content-security-policy")).toMatch(/script-src 'self'/);
      expect(page.headers.get("content-security-policy")).not.toMatch(/unsafe-inline/);
      expect(page.headers.get("cache-control")).toBe("no-store");
      const file = await fetch(`${s.api}/files/${s.files[0]!.id}`);
      await file.arrayBuffer();
      expect(file.headers.get("content-security-policy")).toBe("sandbox; default-src 'none'");
      expect(file.headers.get("content-disposition")).toMatch(/^attachment;/);

      const docs = await fetch(`${t.api}/docs/`);
      expect(docs.status).toBe(200);
      expect(docs.headers.get("content-security-policy")).toMatch(/script-src 'self';/);
      const init = await (await fetch(`${t.api}/docs/swagger-ui-init.js`)).text();
      // A token typed into "Authorize" is never written to the browser's storage.
      expect(init).toMatch(/"persistAuthorization": false/);
      const redoc = await fetch(`${t.api}/redoc`);
      expect(redoc.headers.get("content-security-policy")).toMatch(/worker-src blob:/);
    });
  });

  describe("errors carry a stable code", () => {
    it("for each kind of failure", async () => {
      const bob = await t.createUser();
      const pkg = await createPackage(t, alice.token, { direction: "outbound" });
      await addFile(t, alice.token, pkg.id, "a.txt", "a");
      await expectError(await t.fetch(`/packages/${pkg.id}`, { token: bob.token }), 403, "package_forbidden");
      await expectError(await t.fetch(`/packages/${UUID}`, { token: alice.token }), 404, "package_not_found");
      await expectError(await t.fetch(`/packages/${pkg.id}/files/${UUID}`, { token: alice.token }), 404, "file_not_found");
      await expectError(await t.fetch("/packages", { method: "POST", token: alice.token, json: {} }), 422, "validation_failed");
      await expectError(await t.fetch("/packages", { method: "POST", token: alice.token, body: "{x", headers: { "Content-Type": "application/json" } }), 422, "body_malformed");
      await expectError(await t.fetch("/me", { method: "PUT", token: alice.token }), 405, "method_not_allowed");
      await expectError(await t.fetch("/nothing-here", { token: alice.token }), 404, "not_found");
      await expectError(await t.fetch(`/links/${"A".repeat(43)}`), 404, "link_not_found");
      expect((await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: alice.token })).status).toBe(200);
      await expectError(await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: alice.token }), 409, "package_not_draft");
      await expectUnauthorized(await t.fetch("/me", { token: `${bob.token}x` }), "token_invalid");
      await expectUnauthorized(await t.fetch("/me", { headers: { Authorization: "Basic Ym9iOnB3" } }), "token_invalid");
    });
  });
});
