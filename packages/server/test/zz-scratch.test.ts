import { afterAll, beforeAll, describe, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "./helpers/server.js";

describe.each(DATABASES)("scratch %s", (kind) => {
  let t: TestServer;
  beforeAll(async () => { t = await startTestServer(kind); });
  afterAll(async () => { await t?.close(); });
  it("probe", async () => {
    const a = await t.createUser({ role: "admin", email: "adm@example.com", password: "password1" });
    const show = async (label: string, r: Response) => console.log(kind, label, r.status, await r.text());
    const tok = await (await t.fetch("/me/tokens", { method: "POST", token: a.token, json: { name: "x" } })).json();
    await show("del-upper", await t.fetch(`/me/tokens/${tok.id.toUpperCase()}`, { method: "DELETE", token: a.token }));
    await show("nul-token-name", await t.fetch(`/me/tokens`, { method: "POST", token: a.token, json: { name: "a\u0000b" } }));
    await show("nul-user-name", await t.fetch(`/admin/users`, { method: "POST", token: a.token, json: { email: "n@example.com", name: "a\u0000b", password: "password1" } }));
    await show("nul-login-name", await t.fetch(`/auth/token`, { method: "POST", json: { email: "adm@example.com", name: "a\u0000b", password: "password1" } }));
    await show("nul-login-pw", await t.fetch(`/auth/token`, { method: "POST", json: { email: "adm@example.com", name: "ab", password: "password1\u0000" } }));
    await show("nul-q", await t.fetch(`/admin/users?q=%00`, { token: a.token }));
    await show("self-disable-upper", await t.fetch(`/admin/users/${a.user.id.toUpperCase()}`, { method: "PATCH", token: a.token, json: { disabled: true } }));
    await show("me", await t.fetch(`/me`, { token: a.token }));
  });
});
