import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";

describe.each(DATABASES)("health and docs (%s)", (kind) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(kind);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("reports ok with database and storage reachable, without auth", async () => {
    const res = await t.fetch("/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", database: "ok", storage: "ok" });
  });

  it("answers 503 when the database is gone", async () => {
    const other = await startTestServer(kind);
    try {
      await other.running.services.db.destroy();
      const res = await other.fetch("/health");
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: "unavailable", database: "unreachable" });
    } finally {
      await other.running.server.close();
      other.running.server.closeAllConnections();
    }
  });

  it("serves the spec, Swagger UI and a self-hosted ReDoc", async () => {
    const spec = await (await t.fetch("/openapi.json")).json();
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths)).toContain("/me/tokens/{id}");

    const docs = await fetch(`${t.api}/docs/`);
    expect(docs.status).toBe(200);
    const html = await docs.text();
    expect(html).toContain("swagger-ui");
    expect(html).not.toMatch(/https?:\/\/(?!localhost)[a-z0-9.-]+\/[^"']*\.js/i);

    const redoc = await (await fetch(`${t.api}/redoc`)).text();
    expect(redoc).toContain('src="/api/v1/redoc/redoc.standalone.js"');
    expect(redoc).not.toMatch(/cdn|https?:\/\//i);
    const bundle = await fetch(`${t.api}/redoc/redoc.standalone.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.text()).length).toBeGreaterThan(100_000);
  });

  it("answers unknown routes with a JSON 404", async () => {
    const res = await t.fetch("/no-such-thing");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ detail: "Not found", code: "not_found" });
  });
});
