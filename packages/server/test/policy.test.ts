import crypto from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError, expectUnauthorized, expectValidationError } from "@speedyfiles/test-utils/expect";
import { createPackage, postPackage, uploadFile } from "@speedyfiles/test-utils/uploads";
import { finalize, requestFiles, uploadToLink } from "@speedyfiles/test-utils/links";

type User = Awaited<ReturnType<TestServer["createUser"]>>;
interface PolicyBody {
  rules: Record<string, unknown>;
  roles: { user: Record<string, unknown>; admin: Record<string, unknown> };
  updated_at: string | null;
  updated_by: string | null;
}

const NO_RULES = {
  min_ttl_days: null,
  max_ttl_days: null,
  require_password: false,
  require_encryption: false,
  allowed_recipient_domains: null,
  blocked_recipient_domains: null,
  max_file_bytes: null,
  max_recipients: null,
  quota_bytes_per_user: null,
};

const TUS = { "Tus-Resumable": "1.0.0" };
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A 422 naming the rule (and its value) that refused, in the one error shape. */
async function expectRefusal(res: Response, rule: string, limit: unknown, code = "policy_violation") {
  const body = await expectValidationError(res, undefined, code);
  expect(body).toMatchObject({ rule, limit });
  // For people: words, not the rule's name.
  expect(body.detail).not.toContain(rule);
  return body;
}

describe.each(DATABASES)("the instance's policy (%s)", (kind) => {
  let t: TestServer;
  let admin: User;
  let alice: User;

  const putPolicy = (body: unknown, token = admin.token) => t.fetch("/admin/policy", { method: "PUT", token, json: body });
  const setPolicy = async (body: Record<string, unknown>) => {
    const res = await putPolicy(body);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as PolicyBody;
  };
  const create = (body: Record<string, unknown>, token = alice.token) =>
    postPackage(t, token, { title: "Q4", recipient_email: "cfo@acme.com", direction: "outbound", ttl_days: 7, ...body });

  beforeAll(async () => {
    t = await startTestServer(kind);
    [admin, alice] = await Promise.all([t.createUser({ role: "admin" }), t.createUser()]);
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await setPolicy({});
  });

  it("starts with no rule; a PUT replaces the whole policy, normalised, and GET shows it with who changed it", async () => {
    const fresh = await startTestServer(kind);
    try {
      const { token } = await fresh.createUser({ role: "admin" });
      const res = await fresh.fetch("/admin/policy", { token });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ rules: NO_RULES, roles: { user: {}, admin: {} }, updated_at: null, updated_by: null });
    } finally {
      await fresh.close();
    }

    const put = await setPolicy({
      max_ttl_days: 30,
      require_encryption: true,
      allowed_recipient_domains: ["ACME.com", "*.acme.com", "acme.COM"],
      quota_bytes_per_user: 53687091200,
      roles: { admin: { quota_bytes_per_user: null } },
    });
    const expected = {
      rules: { ...NO_RULES, max_ttl_days: 30, require_encryption: true, allowed_recipient_domains: ["acme.com", "*.acme.com"], quota_bytes_per_user: 53687091200 },
      roles: { user: {}, admin: { quota_bytes_per_user: null } },
      updated_at: t.clock.now().toISOString(),
      updated_by: admin.user.email,
    };
    expect(put).toEqual(expected);
    expect(await (await t.fetch("/admin/policy", { token: admin.token })).json()).toEqual(expected);

    // A rule left out is no rule.
    expect((await setPolicy({ max_recipients: 3 })).rules).toEqual({ ...NO_RULES, max_recipients: 3 });
  });

  it("records each change as a policy.updated audit event with the policy before and after", async () => {
    await setPolicy({ max_recipients: 5 });
    await setPolicy({ max_recipients: 2, roles: { admin: { max_recipients: null } } });
    const rows = (await t.running.services.db("audit_events").where({ type: "policy.updated" }).orderBy("created_at", "desc").orderBy("id")) as {
      actor_user_id: string;
      subject_id: string | null;
      data: string;
    }[];
    const last = rows.find((r) => (JSON.parse(r.data) as { after: PolicyBody }).after.rules.max_recipients === 2)!;
    expect(last.actor_user_id).toBe(admin.user.id);
    expect(last.subject_id).toBeNull();
    const data = JSON.parse(last.data) as { before: PolicyBody; after: PolicyBody };
    expect(data.before.rules.max_recipients).toBe(5);
    expect(data.after).toEqual({ rules: { ...NO_RULES, max_recipients: 2 }, roles: { user: {}, admin: { max_recipients: null } } });
  });

  it("refuses an anonymous caller (401), a user who is not an admin (403), and lets every user read their own rules", async () => {
    await setPolicy({ max_file_bytes: 1000 });
    await expectUnauthorized(await t.fetch("/admin/policy"));
    await expectUnauthorized(await t.fetch("/admin/policy", { method: "PUT", json: {} }));
    await expectUnauthorized(await t.fetch("/me/policy"));
    await expectUnauthorized(await t.fetch("/admin/policy", { token: "sf_" + "x".repeat(43) }), "token_invalid");
    await expectError(await t.fetch("/admin/policy", { token: alice.token }), 403, "admin_required");
    await expectError(await putPolicy({ max_file_bytes: null }, alice.token), 403, "admin_required");
    // Nothing changed.
    expect(((await (await t.fetch("/admin/policy", { token: admin.token })).json()) as PolicyBody).rules.max_file_bytes).toBe(1000);
    const mine = await t.fetch("/me/policy", { token: alice.token });
    expect(mine.status).toBe(200);
    expect(await mine.json()).toEqual({ rules: { ...NO_RULES, max_file_bytes: 1000 }, quota_used_bytes: 0 });
  });

  it("refuses malformed bodies and contradictions with 422 naming the field, and keeps the policy it had", async () => {
    await setPolicy({ max_ttl_days: 10 });
    const refused: [unknown, string][] = [
      [{ max_ttl_days: "ten" }, "/body/max_ttl_days"],
      [{ max_ttl_days: 0 }, "/body/max_ttl_days"],
      [{ quota_bytes_per_user: -1 }, "/body/quota_bytes_per_user"],
      [{ max_recipients: 51 }, "/body/max_recipients"],
      [{ colour: "red" }, "/body"],
      [{ roles: { guest: {} } }, "/body/roles"],
      [{ roles: { user: { max_ttl_days: 400 } } }, "/body/roles/user/max_ttl_days"],
      [{ allowed_recipient_domains: ["acme..com"] }, "/body/allowed_recipient_domains/0"],
      [{ allowed_recipient_domains: ["*"] }, "/body/allowed_recipient_domains/0"],
      [{ blocked_recipient_domains: ["user@gmail.com"] }, "/body/blocked_recipient_domains/0"],
      [{ blocked_recipient_domains: ["bücher.de"] }, "/body/blocked_recipient_domains/0"],
      [{ allowed_recipient_domains: ["a.com", "a.com"] }, "/body/allowed_recipient_domains"],
      [[], "/body"],
      // Contradictions.
      [{ min_ttl_days: 10, max_ttl_days: 5 }, "/body/min_ttl_days"],
      [{ allowed_recipient_domains: ["acme.com"], blocked_recipient_domains: ["ACME.com"] }, "/body/blocked_recipient_domains"],
      [{ allowed_recipient_domains: ["*.acme.com"], blocked_recipient_domains: ["*.com"] }, "/body/blocked_recipient_domains"],
      [{ allowed_recipient_domains: [] }, "/body/allowed_recipient_domains"],
      [{ max_ttl_days: 5, roles: { user: { min_ttl_days: 6 } } }, "/body/roles/user/min_ttl_days"],
      [{ blocked_recipient_domains: ["gmail.com"], roles: { admin: { allowed_recipient_domains: ["gmail.com"] } } }, "/body/roles/admin/allowed_recipient_domains"],
    ];
    for (const [body, path] of refused) {
      const res = await putPolicy(body);
      await expectValidationError(res, path);
    }
    // SF_MAX_TTL_DAYS is this server's ceiling: a minimum above it would refuse every package.
    const low = await startTestServer(kind, { env: { SF_MAX_TTL_DAYS: "14" } });
    try {
      const { token } = await low.createUser({ role: "admin" });
      const body = await expectValidationError(await low.fetch("/admin/policy", { method: "PUT", token, json: { min_ttl_days: 15 } }), "/body/min_ttl_days");
      expect(body.detail).toContain("SF_MAX_TTL_DAYS");
    } finally {
      await low.close();
    }
    // Not JSON, not a JSON content type, too large.
    await expectError(await t.fetch("/admin/policy", { method: "PUT", token: admin.token, headers: { "Content-Type": "application/json" }, body: "{" }), 422, "body_malformed");
    await expectError(await t.fetch("/admin/policy", { method: "PUT", token: admin.token, headers: { "Content-Type": "text/plain" }, body: "{}" }), 415);
    const huge = { allowed_recipient_domains: Array.from({ length: 500 }, (_, i) => `${"d".repeat(2000)}${i}.com`) };
    expect([413, 422]).toContain((await putPolicy(huge)).status);
    // The policy is the one before.
    const now = (await (await t.fetch("/admin/policy", { token: admin.token })).json()) as PolicyBody;
    expect(now.rules).toEqual({ ...NO_RULES, max_ttl_days: 10 });
    expect(now.roles).toEqual({ user: {}, admin: {} });
  });

  it("min_ttl_days and max_ttl_days: a package, a draft's ttl_days and an active package's new expiry stay within them", async () => {
    await setPolicy({ min_ttl_days: 3, max_ttl_days: 30 });
    const over = await expectRefusal(await create({ ttl_days: 31 }), "max_ttl_days", 30);
    expect(over.errors![0]!.path).toBe("/body/ttl_days");
    expect(over.detail).toMatch(/at most 30 days/);
    await expectRefusal(await create({ ttl_days: 2 }), "min_ttl_days", 3);
    expect((await create({ ttl_days: 30 })).status).toBe(201);
    const draft = await createPackage(t, alice.token, { ttl_days: 3 });
    const patch = (body: unknown) => t.fetch(`/packages/${draft.id}`, { method: "PATCH", token: alice.token, json: body });
    await expectRefusal(await patch({ ttl_days: 31 }), "max_ttl_days", 30);
    await expectRefusal(await patch({ ttl_days: 1 }), "min_ttl_days", 3);
    expect((await patch({ ttl_days: 20 })).status).toBe(200);
    await uploadFile(t, alice.token, draft.id, "a.txt", "a");
    await finalize(t, alice.token, draft.id);
    // Extending (or shortening) an active package.
    await expectRefusal(await patch({ ttl_days: 40 }), "max_ttl_days", 30);
    const at = (days: number) => new Date(t.clock.now().getTime() + days * 86_400_000).toISOString();
    await expectRefusal(await patch({ expires_at: at(30.5) }), "max_ttl_days", 30);
    await expectRefusal(await patch({ expires_at: at(1) }), "min_ttl_days", 3);
    expect((await patch({ expires_at: at(29) })).status).toBe(200);
    expect((await patch({ ttl_days: 3 })).status).toBe(200);
  });

  it("max_ttl_days below SF_MAX_TTL_DAYS refuses as the policy; above it, the server's own limit refuses as before", async () => {
    await setPolicy({ max_ttl_days: 200 });
    const low = await startTestServer(kind, { env: { SF_MAX_TTL_DAYS: "100" } });
    try {
      const [a, u] = await Promise.all([low.createUser({ role: "admin" }), low.createUser()]);
      expect((await low.fetch("/admin/policy", { method: "PUT", token: a.token, json: { max_ttl_days: 200 } })).status).toBe(200);
      const body = await expectValidationError(await postPackage(low, u.token, { title: "x", recipient_email: "a@b.co", direction: "outbound", ttl_days: 150 }), "/body/ttl_days");
      expect(body.code).toBe("validation_failed");
      expect((await low.fetch("/admin/policy", { method: "PUT", token: a.token, json: { max_ttl_days: 50 } })).status).toBe(200);
      await expectRefusal(await postPackage(low, u.token, { title: "x", recipient_email: "a@b.co", direction: "outbound", ttl_days: 60 }), "max_ttl_days", 50);
    } finally {
      await low.close();
    }
  });

  it("require_password: an outbound package needs a link password; an upload request needs none", async () => {
    await setPolicy({ require_password: true });
    const body = await expectRefusal(await create({}), "require_password", true);
    expect(body.errors![0]!.path).toBe("/body/password");
    expect((await create({ password: "correct horse" })).status).toBe(201);
    expect((await create({ direction: "inbound" })).status).toBe(201);
  });

  it("require_encryption: every package is encrypted end to end", async () => {
    await setPolicy({ require_encryption: true });
    await expectRefusal(await create({}), "require_encryption", true);
    await expectRefusal(await create({ direction: "inbound" }), "require_encryption", true);
    expect((await create({ encryption: { scheme: "age-scrypt" } })).status).toBe(201);
  });

  it("allowed_recipient_domains: exact domains and *. subdomains, any case; one recipient outside refuses the package", async () => {
    await setPolicy({ allowed_recipient_domains: ["acme.com", "*.partner.org"] });
    for (const ok of ["cfo@acme.com", "CFO@ACME.COM", "x@eu.partner.org", "x@a.b.partner.org"]) {
      expect((await create({ recipient_email: ok })).status, ok).toBe(201);
    }
    for (const bad of ["x@partner.org", "x@evilacme.com", "x@acme.com.evil.io", "x@sub.acme.com"]) {
      const body = await expectRefusal(await create({ recipient_email: bad }), "allowed_recipient_domains", ["acme.com", "*.partner.org"]);
      expect(body.errors![0]!.path).toBe("/body/recipient_email");
      expect(body.detail).toContain(bad);
      expect(body.detail).toMatch(/Recipients must be at acme\.com or a subdomain of partner\.org/);
    }
    const several = await expectRefusal(
      await create({ recipient_email: undefined, recipients: [{ email: "a@acme.com" }, { email: "b@gmail.com" }] }),
      "allowed_recipient_domains",
      ["acme.com", "*.partner.org"],
    );
    expect(several.errors![0]!.path).toBe("/body/recipients/1/email");
    // An upload request's one recipient too.
    await expectRefusal(await create({ direction: "inbound", recipient_email: "x@gmail.com" }), "allowed_recipient_domains", ["acme.com", "*.partner.org"]);
  });

  it("blocked_recipient_domains: no recipient at a blocked domain; *.x blocks the subdomains, not x itself", async () => {
    await setPolicy({ blocked_recipient_domains: ["gmail.com", "*.example.net"] });
    await expectRefusal(await create({ recipient_email: "me@Gmail.com" }), "blocked_recipient_domains", ["gmail.com", "*.example.net"]);
    await expectRefusal(await create({ recipient_email: "me@mail.example.net" }), "blocked_recipient_domains", ["gmail.com", "*.example.net"]);
    expect((await create({ recipient_email: "me@example.net" })).status).toBe(201);
    expect((await create({ recipient_email: "me@googlemail.com" })).status).toBe(201);
  });

  it("max_recipients: at most that many links per package", async () => {
    await setPolicy({ max_recipients: 2 });
    const three = [{ email: "a@acme.com" }, { email: "b@acme.com" }, { email: "c@acme.com" }];
    const body = await expectRefusal(await create({ recipient_email: undefined, recipients: three }), "max_recipients", 2);
    expect(body.errors![0]!.path).toBe("/body/recipients");
    expect((await create({ recipient_email: undefined, recipients: three.slice(0, 2) })).status).toBe(201);
  });

  it("max_file_bytes: multipart, tus and inbound-link uploads over it are refused before a byte is kept", async () => {
    await setPolicy({ max_file_bytes: 1000 });
    const pkg = await createPackage(t, alice.token);
    const body = await expectRefusal(await uploadFile(t, alice.token, pkg.id, "big.bin", crypto.randomBytes(1001)), "max_file_bytes", 1000);
    expect(body.detail).toMatch(/at most 1000 B/);
    expect((await uploadFile(t, alice.token, pkg.id, "fits.bin", crypto.randomBytes(1000))).status).toBe(201);
    // Announced far over it: refused unread.
    await expectRefusal(await uploadFile(t, alice.token, pkg.id, "huge.bin", crypto.randomBytes(200_000)), "max_file_bytes", 1000);
    const tus = await t.fetch(`/packages/${pkg.id}/uploads`, {
      method: "POST",
      token: alice.token,
      headers: { ...TUS, "Upload-Length": "1001", "Upload-Metadata": `filename ${b64("tus.bin")}` },
    });
    expect((await expectRefusal(tus, "max_file_bytes", 1000)).errors![0]!.path).toBe("/header/Upload-Length");
    // Through a link, the owner's rules apply.
    const req = await requestFiles(t, alice.token, { recipient_email: "vendor@acme.com" });
    await expectRefusal(await uploadToLink(req.api, "big.bin", crypto.randomBytes(1001)), "max_file_bytes", 1000);
    expect((await uploadToLink(req.api, "ok.bin", crypto.randomBytes(10))).status).toBe(201);
    // Nothing of the refused ones is kept: one file in the draft, one through the link.
    const files = await t.running.services.db("files").whereIn("package_id", [pkg.id, req.id]).select("name");
    expect(files.map((f: { name: string }) => f.name).sort()).toEqual(["fits.bin", "ok.bin"]);
    expect(await t.running.services.db("uploads").where({ package_id: pkg.id })).toEqual([]);
  });

  it("role overrides: a rule named for a role (null included) replaces the instance's for its users", async () => {
    await setPolicy({ max_ttl_days: 7, max_recipients: 1, roles: { admin: { max_ttl_days: null }, user: { max_recipients: 3 } } });
    await expectRefusal(await create({ ttl_days: 30 }), "max_ttl_days", 7);
    expect((await create({ ttl_days: 30 }, admin.token)).status).toBe(201);
    const two = { recipient_email: undefined, recipients: [{ email: "a@acme.com" }, { email: "b@acme.com" }] };
    expect((await create(two)).status).toBe(201);
    await expectRefusal(await create(two, admin.token), "max_recipients", 1);
    const mine = (await (await t.fetch("/me/policy", { token: alice.token })).json()) as { rules: Record<string, unknown> };
    const theirs = (await (await t.fetch("/me/policy", { token: admin.token })).json()) as { rules: Record<string, unknown> };
    expect(mine.rules).toEqual({ ...NO_RULES, max_ttl_days: 7, max_recipients: 3 });
    expect(theirs.rules).toEqual({ ...NO_RULES, max_ttl_days: null, max_recipients: 1 });
  });

  it("finalize checks the draft against the rules of the moment: a draft made before a rule changed does not leave", async () => {
    const draft = await createPackage(t, alice.token, { ttl_days: 14, recipient_email: "x@gmail.com" });
    await uploadFile(t, alice.token, draft.id, "a.txt", "a".repeat(500));
    const fin = () => t.fetch(`/packages/${draft.id}/finalize`, { method: "POST", token: alice.token });
    await setPolicy({ max_ttl_days: 7 });
    const body = await expectRefusal(await fin(), "max_ttl_days", 7);
    expect(body.detail).toMatch(/change its ttl_days/);
    expect((await t.fetch(`/packages/${draft.id}`, { method: "PATCH", token: alice.token, json: { ttl_days: 7 } })).status).toBe(200);
    await setPolicy({ max_ttl_days: 7, max_file_bytes: 100 });
    await expectRefusal(await fin(), "max_file_bytes", 100);
    await setPolicy({ blocked_recipient_domains: ["gmail.com"] });
    await expectRefusal(await fin(), "blocked_recipient_domains", ["gmail.com"]);
    await setPolicy({ require_password: true });
    expect((await expectRefusal(await fin(), "require_password", true)).detail).toMatch(/create a new package/);
    // Still a draft, nothing sent.
    expect(((await (await t.fetch(`/packages/${draft.id}`, { token: alice.token })).json()) as { status: string }).status).toBe("draft");
    await setPolicy({});
    expect((await fin()).status).toBe(200);
    // Resending mails new links: a recipient whose domain is now blocked gets none.
    await setPolicy({ blocked_recipient_domains: ["gmail.com"] });
    await expectRefusal(await t.fetch(`/packages/${draft.id}/resend`, { method: "POST", token: alice.token }), "blocked_recipient_domains", ["gmail.com"]);
    await setPolicy({});
    expect((await t.fetch(`/packages/${draft.id}/resend`, { method: "POST", token: alice.token })).status).toBe(200);
  });

  it("quota_bytes_per_user: uploads past it are refused before they are stored; what is held shows in /me/policy", async () => {
    const u = await t.createUser();
    await setPolicy({ quota_bytes_per_user: 3000 });
    const me = async () => ((await (await t.fetch("/me/policy", { token: u.token })).json()) as { quota_used_bytes: number }).quota_used_bytes;
    const pkg = await createPackage(t, u.token);
    const first = await uploadFile(t, u.token, pkg.id, "a.bin", crypto.randomBytes(2000));
    expect(first.status).toBe(201);
    expect(await me()).toBe(2000);
    const body = await expectRefusal(await uploadFile(t, u.token, pkg.id, "b.bin", crypto.randomBytes(1500)), "quota_bytes_per_user", 3000, "quota_exceeded");
    expect(body.detail).toMatch(/storage quota of 2\.9 KiB/);
    expect(body.detail).toMatch(/nothing was stored/);
    // An unfinished tus upload counts at its announced length.
    const tus = (len: number, name: string) =>
      t.fetch(`/packages/${pkg.id}/uploads`, { method: "POST", token: u.token, headers: { ...TUS, "Upload-Length": String(len), "Upload-Metadata": `filename ${b64(name)}` } });
    await expectRefusal(await tus(1001, "c.bin"), "quota_bytes_per_user", 3000, "quota_exceeded");
    const created = await tus(1000, "c.bin");
    expect(created.status).toBe(201);
    expect(await me()).toBe(3000);
    await expectRefusal(await uploadFile(t, u.token, pkg.id, "d.bin", "d"), "quota_bytes_per_user", 3000, "quota_exceeded");
    // Cancelling the upload gives its room back; deleting a file too.
    expect((await t.fetch(created.headers.get("location")!.replace(/^\/api\/v1/, ""), { method: "DELETE", token: u.token, headers: TUS })).status).toBe(204);
    expect(await me()).toBe(2000);
    // Inbound uploads count against the owner: the uploader learns there is no room, not the owner's numbers.
    const req = await requestFiles(t, u.token, { recipient_email: "vendor@acme.com" });
    const through = await expectRefusal(await uploadToLink(req.api, "big.bin", crypto.randomBytes(1500)), "quota_bytes_per_user", 3000, "quota_exceeded");
    expect(through.detail).not.toMatch(/KiB/);
    expect((await uploadToLink(req.api, "small.bin", crypto.randomBytes(900))).status).toBe(201);
    expect(await me()).toBe(2900);
    // Expired and revoked packages hold nothing.
    expect((await t.fetch(`/packages/${pkg.id}`, { method: "DELETE", token: u.token })).status).toBe(204);
    expect(await me()).toBe(900);
    // A quota lowered below what a user holds refuses the next upload; no quota for admins.
    await setPolicy({ quota_bytes_per_user: 500, roles: { admin: { quota_bytes_per_user: null } } });
    const next = await createPackage(t, u.token);
    await expectRefusal(await uploadFile(t, u.token, next.id, "x.bin", "x"), "quota_bytes_per_user", 500, "quota_exceeded");
    const adminPkg = await createPackage(t, admin.token);
    expect((await uploadFile(t, admin.token, adminPkg.id, "x.bin", crypto.randomBytes(5000))).status).toBe(201);
    // No reservation is left behind.
    expect(await t.running.services.db("quota_reservations")).toEqual([]);
  });

  it("quota_bytes_per_user: an expired package holds nothing, and bringing it back must fit", async () => {
    const u = await t.createUser();
    const me = async () => ((await (await t.fetch("/me/policy", { token: u.token })).json()) as { quota_used_bytes: number }).quota_used_bytes;
    const old = await createPackage(t, u.token, { ttl_days: 1 });
    expect((await uploadFile(t, u.token, old.id, "old.bin", crypto.randomBytes(2000))).status).toBe(201);
    await finalize(t, u.token, old.id);
    t.clock.advanceDays(2);
    expect(await me()).toBe(0);
    await setPolicy({ quota_bytes_per_user: 3000 });
    const fresh = await createPackage(t, u.token);
    expect((await uploadFile(t, u.token, fresh.id, "new.bin", crypto.randomBytes(1500))).status).toBe(201);
    const revive = () => t.fetch(`/packages/${old.id}`, { method: "PATCH", token: u.token, json: { ttl_days: 3 } });
    const body = await expectRefusal(await revive(), "quota_bytes_per_user", 3000, "quota_exceeded");
    expect(body.detail).toMatch(/Bringing this package back/);
    expect(((await (await t.fetch(`/packages/${old.id}`, { token: u.token })).json()) as { status: string }).status).toBe("expired");
    expect((await t.fetch(`/packages/${fresh.id}`, { method: "DELETE", token: u.token })).status).toBe(204);
    expect((await revive()).status).toBe(200);
    expect(await me()).toBe(2000);
  });
});
