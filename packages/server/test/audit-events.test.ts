import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { requestFiles, shareFiles, uploadToLink } from "@speedyfiles/test-utils/links";
import { signedIn, WebClient } from "@speedyfiles/test-utils/web";
import { sweepOnce } from "../src/jobs/sweeper.js";
import { insertAuditEvent } from "../src/db/audit-events.js";
import type { components } from "../src/generated/api.js";

type AuditEvent = components["schemas"]["AuditEvent"];
type Member = Awaited<ReturnType<TestServer["createUser"]>>;

describe.each(DATABASES)("the audit trail records who did what (%s)", (kind) => {
  let t: TestServer;
  let admin: Member;
  let owner: Member;
  /** Every raw secret the tests handled: none may appear in the export. */
  const secrets: string[] = [];

  /** The whole export as NDJSON, parsed. */
  const exported = async (query = ""): Promise<AuditEvent[]> => {
    const res = await t.fetch(`/admin/events${query}`, { token: admin.token, headers: { Accept: "application/x-ndjson" } });
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const secret of secrets) expect(text, "a secret in the audit export").not.toContain(secret);
    return text === ""
      ? []
      : text
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as AuditEvent);
  };
  const ofPackage = async (id: string) => exported(`?package=${id}`);
  const types = (list: AuditEvent[]) => list.map((e) => e.type);

  beforeAll(async () => {
    t = await startTestServer(kind, { mail: false });
    [admin, owner] = await Promise.all([t.createUser({ role: "admin" }), t.createUser()]);
    secrets.push(admin.token, owner.token, admin.password, owner.password);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("an outbound package: created, finalized (recipients, files, expiry), downloaded, resent, a link revoked, revoked, deleted", async () => {
    const shared = await shareFiles(
      t,
      owner.token,
      [
        ["report.pdf", "quarterly numbers"],
        ["notes.txt", "n"],
      ],
      {
        title: "Q4 for the board",
        recipient_email: undefined,
        recipients: [{ email: "cfo@acme.test" }, { email: "ceo@acme.test" }],
        password: "a long link password",
      },
    );
    secrets.push(shared.secret, "a long link password");
    const file = shared.files[0]!;
    const got = await fetch(`${shared.api}/files/${file.id}`, { headers: { "X-Link-Password": "a long link password", "User-Agent": "recipient-browser" } });
    expect(got.status).toBe(200);
    await got.arrayBuffer();
    const detail = (await (await t.fetch(`/packages/${shared.id}`, { token: owner.token })).json()) as { links: { id: string; recipient_email: string }[] };
    const resent = await t.fetch(`/packages/${shared.id}/resend`, { method: "POST", token: owner.token });
    expect(resent.status).toBe(200);
    for (const l of ((await resent.json()) as { links: { magic_link: string }[] }).links) secrets.push(l.magic_link.split("/").pop()!);
    const ceo = detail.links.find((l) => l.recipient_email === "ceo@acme.test")!;
    expect((await t.fetch(`/packages/${shared.id}/links/${ceo.id}/revoke`, { method: "POST", token: owner.token })).status).toBe(200);
    expect((await t.fetch(`/packages/${shared.id}/revoke`, { method: "POST", token: owner.token })).status).toBe(200);
    expect((await t.fetch(`/packages/${shared.id}`, { method: "DELETE", token: owner.token })).status).toBe(204);

    const trail = await ofPackage(shared.id);
    expect(types(trail)).toEqual([
      "package.created",
      "package.finalized",
      "package.downloaded",
      "link.resent",
      "link.resent",
      "link.revoked",
      "package.revoked",
      "package.deleted",
    ]);
    const byOwner = { actor_user_id: owner.user.id, actor_email: owner.user.email, user_id: owner.user.id, package_id: shared.id };
    const [created, finalized, downloaded, resent1, resent2, linkRevoked, revoked, deleted] = trail;
    expect(created).toMatchObject({
      ...byOwner,
      client_address: expect.stringMatching(/127\.0\.0\.1/),
      data: { title: "Q4 for the board", direction: "outbound", recipients: ["cfo@acme.test", "ceo@acme.test"], encrypted: false, password_protected: true },
    });
    expect(finalized).toMatchObject({
      ...byOwner,
      data: {
        title: "Q4 for the board",
        direction: "outbound",
        recipients: ["cfo@acme.test", "ceo@acme.test"],
        file_count: 2,
        total_size: 18,
        files: [
          { name: "report.pdf", size: 17 },
          { name: "notes.txt", size: 1 },
        ],
        encrypted: false,
        expires_at: expect.any(String),
      },
    });
    // A recipient acted through their link: no user signed in.
    expect(downloaded).toMatchObject({
      actor_user_id: null,
      actor_email: null,
      user_id: owner.user.id,
      package_id: shared.id,
      link_id: expect.any(String),
      file_id: file.id,
      user_agent: "recipient-browser",
      data: { recipient_email: "cfo@acme.test", what: "file", file_name: "report.pdf", size: 17 },
    });
    expect([resent1!.data.recipient_email, resent2!.data.recipient_email].sort()).toEqual(["ceo@acme.test", "cfo@acme.test"]);
    expect(resent1).toMatchObject({ ...byOwner, link_id: expect.any(String) });
    expect(linkRevoked).toMatchObject({ ...byOwner, link_id: ceo.id, data: { recipient_email: "ceo@acme.test" } });
    expect(revoked).toMatchObject({ ...byOwner, data: { title: "Q4 for the board" } });
    expect(deleted).toMatchObject({ ...byOwner, data: { title: "Q4 for the board", status: "revoked", file_count: 2, total_size: 18 } });
    // The trail outlives the package: the export still proves who sent what to whom.
    expect((await t.fetch(`/packages/${shared.id}`, { token: owner.token })).status).toBe(404);
  });

  it("an expiry by the sweeper (no actor) and an inbound request's upload and completion (by the recipient)", async () => {
    const shared = await shareFiles(t, owner.token, [["a.txt", "a"]], { title: "Short-lived", ttl_days: 1 });
    secrets.push(shared.secret);
    t.clock.advanceDays(2);
    await sweepOnce(t.running.services);
    expect((await ofPackage(shared.id)).at(-1)).toMatchObject({ type: "package.expired", actor_user_id: null, user_id: owner.user.id, data: { title: "Short-lived" } });

    const req = await requestFiles(t, owner.token, { title: "Send me the contract", recipient_email: "vendor@supplier.test" });
    secrets.push(req.secret);
    const up = await uploadToLink(req.api, "contract.pdf", "signed", { "User-Agent": "vendor-browser" });
    expect(up.status).toBe(201);
    const uploaded = (await up.json()) as { id: string };
    expect((await fetch(`${req.api}/complete`, { method: "POST" })).status).toBe(200);
    const trail = await ofPackage(req.id);
    expect(types(trail)).toEqual(["package.created", "package.finalized", "package.uploaded", "package.completed"]);
    expect(trail[2]).toMatchObject({
      actor_user_id: null,
      user_id: owner.user.id,
      file_id: uploaded.id,
      user_agent: "vendor-browser",
      data: { recipient_email: "vendor@supplier.test", file_name: "contract.pdf", size: 6 },
    });
    expect(trail[3]).toMatchObject({ actor_user_id: null, data: { recipient_email: "vendor@supplier.test", file_count: 1 } });
  });

  it("sign-ins (web form and sf login), failures with the email tried, sign-outs, tokens created and revoked", async () => {
    const who = await t.createUser();
    secrets.push(who.token, who.password);
    const web = await signedIn(t, who.user.email, who.password);
    const failed = new WebClient(t);
    expect((await failed.signIn(who.user.email, "not the password")).status).toBe(401);
    expect((await failed.signIn("Nobody@Example.test", "whatever it is")).status).toBe(401);
    const login = await t.fetch("/auth/token", { method: "POST", json: { email: who.user.email, password: who.password, name: "laptop" }, headers: { "User-Agent": "sf/1.0" } });
    expect(login.status).toBe(201);
    const loginToken = (await login.json()) as { id: string; token: string; prefix: string };
    secrets.push(loginToken.token);
    expect((await t.fetch("/auth/token", { method: "POST", json: { email: who.user.email, password: "wrong password", name: "x" } })).status).toBe(401);
    const made = await t.fetch("/me/tokens", { method: "POST", token: who.token, json: { name: "ci" } });
    const token = (await made.json()) as { id: string; token: string };
    secrets.push(token.token);
    expect((await t.fetch(`/me/tokens/${token.id}`, { method: "DELETE", token: who.token })).status).toBe(204);
    expect((await web.post("/logout", { _csrf: await web.csrf() })).status).toBe(303);

    const trail = await exported(`?user=${who.user.id}&type=auth.*,token.*`);
    const me = { actor_user_id: who.user.id, actor_email: who.user.email, user_id: who.user.id };
    expect(types(trail)).toEqual([
      // t.createUser's own token (straight through the service).
      "token.created",
      "auth.signed_in",
      "auth.sign_in_failed",
      "auth.signed_in",
      "auth.sign_in_failed",
      "token.created",
      "token.revoked",
      "auth.signed_out",
    ]);
    expect(trail[1]).toMatchObject({ ...me, data: { method: "password", session_id: expect.any(String) }, client_address: expect.any(String) });
    expect(trail[2]).toMatchObject({ actor_user_id: null, user_id: who.user.id, data: { method: "password", email: who.user.email } });
    expect(trail[3]).toMatchObject({ ...me, user_agent: "sf/1.0", data: { method: "token_login", token: { id: loginToken.id, name: "laptop", prefix: loginToken.prefix } } });
    expect(trail[4]).toMatchObject({ actor_user_id: null, user_id: who.user.id, data: { method: "token_login", email: who.user.email } });
    expect(trail[5]).toMatchObject({ ...me, data: { token: { id: token.id, name: "ci" } } });
    expect(trail[6]).toMatchObject({ ...me, data: { token: { id: token.id, name: "ci" } } });
    expect(trail[7]).toMatchObject({ ...me, data: { session_id: trail[1]!.data.session_id } });
    // A failure for an address with no account is kept with the email tried (no user).
    const unknown = (await exported("?type=auth.sign_in_failed")).filter((e) => e.data.email === "nobody@example.test");
    expect(unknown).toEqual([expect.objectContaining({ actor_user_id: null, user_id: null, data: { method: "password", email: "nobody@example.test" } })]);
  });

  it("admin actions through the API and the admin page: users created, changed (the fields), disabled, enabled", async () => {
    const email = `staff-${crypto.randomBytes(4).toString("hex")}@example.com`;
    const res = await t.fetch("/admin/users", { method: "POST", token: admin.token, json: { email, name: "Staff", password: "staff password" } });
    const staff = (await res.json()) as { id: string };
    secrets.push("staff password", "new staff password");
    await t.fetch(`/admin/users/${staff.id}`, { method: "PATCH", token: admin.token, json: { name: "Staff Member", role: "admin", password: "new staff password" } });
    // Nothing changes: nothing recorded.
    await t.fetch(`/admin/users/${staff.id}`, { method: "PATCH", token: admin.token, json: { role: "admin" } });
    const page = await signedIn(t, admin.user.email, admin.password);
    const csrf = await page.csrf();
    expect((await page.post(`/admin/users/${staff.id}/disable`, { _csrf: csrf })).status).toBe(303);
    expect((await page.post(`/admin/users/${staff.id}/enable`, { _csrf: csrf })).status).toBe(303);

    const trail = await exported(`?user=${staff.id}`);
    expect(types(trail)).toEqual(["user.created", "user.updated", "user.disabled", "user.enabled"]);
    const byAdmin = { actor_user_id: admin.user.id, actor_email: admin.user.email, user_id: staff.id };
    expect(trail[0]).toMatchObject({ ...byAdmin, data: { email, name: "Staff", role: "user" } });
    expect(trail[1]).toMatchObject({ ...byAdmin, data: { email, changes: { name: { from: "Staff", to: "Staff Member" }, role: { from: "user", to: "admin" }, password: true } } });
    expect(trail[2]).toMatchObject({ ...byAdmin, data: { email } });
    expect(trail[3]).toMatchObject({ ...byAdmin, data: { email } });
    // The page's actions carry the browser's address as the API's do.
    expect(trail[2]!.client_address).toEqual(trail[0]!.client_address);
  });

  it("keeps the call shape other features use: a user's or a package's id as subject_id fills user_id or package_id", async () => {
    const base = { actor_user_id: admin.user.id, data: JSON.stringify({ note: "x" }), client_address: null, user_agent: null, created_at: t.clock.now().toISOString() };
    const db = t.running.services.db;
    const shared = await shareFiles(t, owner.token, [["b.txt", "b"]]);
    secrets.push(shared.secret);
    const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    await insertAuditEvent(db, { ...base, id: ids[0]!, type: "user.updated", subject_id: owner.user.id });
    // In a transaction of the caller's, as a service records it with its change.
    await db.transaction((trx) => insertAuditEvent(trx, { ...base, id: ids[1]!, type: "package.revoked", subject_id: shared.id }));
    await insertAuditEvent(db, { ...base, id: ids[2]!, type: "trust_policy.deleted", subject_id: crypto.randomUUID() });
    const all = await exported();
    expect(all.slice(-3).map((e) => e.id)).toEqual(ids);
    const [u, p, tp] = all.slice(-3);
    expect(u).toMatchObject({ type: "user.updated", actor_email: admin.user.email, user_id: owner.user.id, package_id: null, data: { note: "x" } });
    expect(p).toMatchObject({ type: "package.revoked", user_id: owner.user.id, package_id: shared.id });
    expect(tp).toMatchObject({ type: "trust_policy.deleted", user_id: null, package_id: null, actor_user_id: admin.user.id });
  });
});
