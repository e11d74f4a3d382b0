import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestIssuer, REPOSITORY_ID, type TestIssuer } from "@speedyfiles/test-utils/oidc-issuer";
import { parseTtl } from "../src/commands/admin-trust.js";
import { sf } from "./helpers.js";

describe.each(DATABASES)("sf admin trust (%s)", (kind) => {
  let t: TestServer;
  let issuer: TestIssuer;

  beforeAll(async () => {
    issuer = await startTestIssuer();
    t = await startTestServer(kind, { env: { SF_OIDC_ALLOW_INSECURE_ISSUERS: "true" } });
  });
  afterAll(async () => {
    await t?.close();
    await issuer?.close();
  });

  it("create, list, show, update and delete; the policy lets a pipeline in", async () => {
    const admin = await t.createUser({ role: "admin" });
    const ci = await t.createUser();
    const env = { SF_URL: t.url, SF_TOKEN: admin.token };
    const created = await sf(
      [
        "admin",
        "trust",
        "create",
        "--name",
        "acme/app releases",
        "--issuer",
        issuer.url,
        "--audience",
        "https://files.example.com",
        "--condition",
        `repository_id=${REPOSITORY_ID}`,
        "--condition",
        "sub=repo:acme/app:ref:refs/heads/*",
        "--user",
        ci.user.email,
        "--scope",
        "packages:read",
        "--scope",
        "packages:write",
        "--ttl",
        "15m",
      ],
      { env },
    );
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.stderr).toContain("15 min tokens");

    const list = await sf(["admin", "trust", "list"], { env });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(id);
    expect(list.stdout).toContain(`repository_id=${REPOSITORY_ID}`);
    const json = JSON.parse((await sf(["admin", "trust", "list", "--json"], { env })).stdout) as { id: string; token_ttl_seconds: number; conditions: Record<string, string> }[];
    expect(json.find((p) => p.id === id)).toMatchObject({ token_ttl_seconds: 900, conditions: { repository_id: REPOSITORY_ID, sub: "repo:acme/app:ref:refs/heads/*" } });

    const show = await sf(["admin", "trust", "show", id.slice(0, 8)], { env });
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/condition\s+sub=repo:acme\/app:ref:refs\/heads\/\*/);

    const updated = await sf(["admin", "trust", "update", id, "--ttl", "3600", "--allow-event", "workflow_run", "--json"], { env });
    expect(updated.code, updated.stderr).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({ token_ttl_seconds: 3600, allowed_events: ["workflow_run"] });

    // The pipeline's side: its ID token for a token.
    const exchanged = await t.fetch("/auth/oidc", { method: "POST", json: { token: await issuer.sign({ now: t.clock.now() }) } });
    expect(exchanged.status).toBe(201);

    const del = await sf(["admin", "trust", "delete", id], { env });
    expect(del.code, del.stderr).toBe(0);
    expect((await sf(["admin", "trust", "show", id], { env })).code).toBe(4);
    expect((await sf(["admin", "trust", "list", "--json"], { env })).stdout).not.toContain(id);
  });

  it("says which flag is wrong; a user gets the admin refusal; GitHub needs a numeric pin", async () => {
    const admin = await t.createUser({ role: "admin" });
    const user = await t.createUser();
    const env = { SF_URL: t.url, SF_TOKEN: admin.token };
    const missing = await sf(["admin", "trust", "create", "--name", "x"], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--issuer.*--audience.*--condition.*--user.*--scope/);
    expect((await sf(["admin", "trust", "create", "--condition", "no-equals"], { env })).code).toBe(2);
    const adminScope = await sf(["admin", "trust", "create", "--scope", "admin"], { env });
    expect(adminScope.code).toBe(2);
    expect(adminScope.stderr).toContain("never holds admin");
    expect((await sf(["admin", "trust", "create", "--ttl", "2h"], { env })).code).toBe(2);

    const unpinned = await sf(
      [
        "admin",
        "trust",
        "create",
        "--name",
        "gh",
        "--issuer",
        "https://token.actions.githubusercontent.com",
        "--audience",
        "a",
        "--condition",
        "repository=acme/app",
        "--user",
        user.user.email,
        "--scope",
        "packages:write",
      ],
      { env },
    );
    expect(unpinned.code).toBe(5);
    expect(unpinned.stderr).toMatch(/repository_id/);

    const refused = await sf(["admin", "trust", "list"], { env: { SF_URL: t.url, SF_TOKEN: user.token } });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/admin/i);
  });

  it("reads --ttl as minutes, hours or seconds", () => {
    expect(parseTtl("15m")).toBe(900);
    expect(parseTtl("1h")).toBe(3600);
    expect(parseTtl("3600")).toBe(3600);
    expect(parseTtl("90s")).toBe(90);
    expect(() => parseTtl("59")).toThrow();
    expect(() => parseTtl("2h")).toThrow();
    expect(() => parseTtl("soon")).toThrow();
  });
});
