import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { shareFiles } from "@speedyfiles/test-utils/links";
import { addFile, createPackage } from "@speedyfiles/test-utils/uploads";

// Every API answer is `Cache-Control: no-store` unless it is a download that says otherwise:
// many carry a secret (a token, a webhook's signing secret, magic links) that no cache may keep.

type User = Awaited<ReturnType<TestServer["createUser"]>>;

describe.each(DATABASES)("Cache-Control of the API's answers (%s)", (kind) => {
  let t: TestServer;
  let owner: User;

  beforeAll(async () => {
    t = await startTestServer(kind, { env: { SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1" } });
    owner = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A draft with one file, ready to finalize. */
  async function draft(): Promise<string> {
    const pkg = await createPackage(t, owner.token, { recipient_email: "cfo@acme.test" });
    await addFile(t, owner.token, pkg.id, "a.txt", "alpha");
    return pkg.id;
  }

  const cases: [label: string, call: () => Promise<Response>, status: number][] = [
    [
      "POST /webhooks (the signing secret)",
      () => t.fetch("/webhooks", { method: "POST", token: owner.token, json: { url: "http://127.0.0.1:9/hook", events: ["package.created"] } }),
      201,
    ],
    ["POST /me/tokens (a token)", () => t.fetch("/me/tokens", { method: "POST", token: owner.token, json: { name: "ci" } }), 201],
    ["POST /auth/token (a token)", () => t.fetch("/auth/token", { method: "POST", json: { email: owner.user.email, password: owner.password, name: "laptop" } }), 201],
    ["POST /packages/{id}/finalize (magic links)", async () => t.fetch(`/packages/${await draft()}/finalize`, { method: "POST", token: owner.token }), 200],
    [
      "POST /packages/{id}/resend (magic links)",
      async () => {
        const id = await draft();
        expect((await t.fetch(`/packages/${id}/finalize`, { method: "POST", token: owner.token })).status).toBe(200);
        return t.fetch(`/packages/${id}/resend`, { method: "POST", token: owner.token });
      },
      200,
    ],
    ["GET /me", () => t.fetch("/me", { token: owner.token }), 200],
    ["GET /packages", () => t.fetch("/packages", { token: owner.token }), 200],
    ["an error (401)", () => t.fetch("/me"), 401],
    ["an unknown path (404)", () => t.fetch("/no-such-thing", { token: owner.token }), 404],
  ];

  it.each(cases)("%s: no-store", async (_label, call, status) => {
    const res = await call();
    expect(res.status, await res.clone().text()).toBe(status);
    expect(res.headers.get("cache-control")).toBe("no-store");
    await res.arrayBuffer();
  });

  it("downloads keep their own: the owner's private, revalidated by ETag; a recipient's no-store", async () => {
    const s = await shareFiles(t, owner.token, [["a.txt", "alpha"]]);
    const own = await t.fetch(`/packages/${s.id}/files/${s.files[0]!.id}`, { token: owner.token });
    expect(own.status).toBe(200);
    expect(own.headers.get("cache-control")).toBe("private, no-cache");
    await own.arrayBuffer();
    const link = await fetch(`${s.api}/files/${s.files[0]!.id}`);
    expect(link.status).toBe(200);
    expect(link.headers.get("cache-control")).toBe("no-store");
    await link.arrayBuffer();
  });
});
