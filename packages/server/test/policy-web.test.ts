// The policy in the web interface: Admin → Policy (a CSRF-protected form, refusals in words next
// to their fields, escaped), and the limits shown in words before a user hits them.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { createPackage, uploadFile } from "@speedyfiles/test-utils/uploads";
import { requestFiles } from "@speedyfiles/test-utils/links";
import { signedIn, WebClient } from "@speedyfiles/test-utils/web";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

/** Every field of the form, empty (no rule, the same as everyone): a test sets what it needs. */
const RULES = [
  "min_ttl_days",
  "max_ttl_days",
  "require_password",
  "require_encryption",
  "allowed_recipient_domains",
  "blocked_recipient_domains",
  "max_file_bytes",
  "max_recipients",
  "quota_bytes_per_user",
];
function emptyForm(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of RULES) {
    out[r] = "";
    out[`user.${r}`] = "";
    out[`admin.${r}`] = "";
  }
  return out;
}

/** The text of the element with this id (tags stripped), or undefined. */
function textOf(page: string, id: string): string | undefined {
  const m = new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</(p|ul|span)>`).exec(page);
  return m
    ? m[1]!
        .replace(/<[^>]+>/g, "")
        .replace(/\s+/g, " ")
        .trim()
    : undefined;
}

describe.each(DATABASES)("the policy in the web interface (%s)", (kind) => {
  let t: TestServer;
  let admin: User;
  let alice: User;
  let a: WebClient;

  const policy = async () => (await (await t.fetch("/admin/policy", { token: admin.token })).json()) as { rules: Record<string, unknown>; roles: Record<string, unknown> };
  const save = async (fields: Record<string, string>) => a.post("/admin/policy", { ...emptyForm(), ...fields, _csrf: await a.csrf() });

  beforeAll(async () => {
    t = await startTestServer(kind);
    [admin, alice] = await Promise.all([t.createUser({ role: "admin" }), t.createUser()]);
    a = await signedIn(t, admin.user.email, admin.password);
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    expect((await t.fetch("/admin/policy", { method: "PUT", token: admin.token, json: {} })).status).toBe(200);
  });

  it("is for admins: signed out goes to sign in, a user gets 403, the admin's pages link to it", async () => {
    const anon = await new WebClient(t).get("/admin/policy");
    expect(anon.status).toBe(303);
    expect(anon.headers.get("location")).toMatch(/^\/login/);
    const user = await signedIn(t, alice.user.email, alice.password);
    expect((await user.get("/admin/policy")).status).toBe(403);
    expect((await user.post("/admin/policy", { ...emptyForm(), max_ttl_days: "1", _csrf: await user.csrf() })).status).toBe(403);
    expect(await (await a.get("/admin/users")).text()).toContain('href="/admin/policy"');
    const page = await (await a.get("/admin/policy")).text();
    expect(page).toContain('<form method="post" action="/admin/policy"');
    expect(page).toContain('name="_csrf"');
    expect((await policy()).rules.max_ttl_days).toBeNull();
  });

  it("saves the form (sizes in units, domains one per line, role overrides) and shows it back as typed", async () => {
    const res = await save({
      max_ttl_days: "30",
      require_password: "1",
      allowed_recipient_domains: "ACME.com\r\n*.acme.com",
      max_file_bytes: "2 GiB",
      quota_bytes_per_user: "50GiB",
      "admin.quota_bytes_per_user": "none",
      "admin.require_password": "off",
      "user.max_recipients": "5",
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/policy?notice=saved");
    const p = await policy();
    expect(p.rules).toMatchObject({
      max_ttl_days: 30,
      require_password: true,
      allowed_recipient_domains: ["acme.com", "*.acme.com"],
      max_file_bytes: 2 * 1024 ** 3,
      quota_bytes_per_user: 50 * 1024 ** 3,
    });
    expect(p.roles).toEqual({ user: { max_recipients: 5 }, admin: { quota_bytes_per_user: null, require_password: false } });
    const page = await (await a.get("/admin/policy?notice=saved")).text();
    expect(page).toContain("The policy was saved");
    expect(page).toContain('value="2 GiB"');
    expect(page).toContain("acme.com\n*.acme.com</textarea>");
    expect(page).toMatch(/name="admin\.quota_bytes_per_user" value="none"/);
    expect(page).toMatch(/<option value="off" selected>not required<\/option>/);
    // The preview says in words what each role sees.
    expect(page).toContain("Links can live at most 30 days.");
    expect(page).toContain("Files up to 2.0 GiB; each user may hold 50.0 GiB.");
    // Recorded as the API's change is.
    const audit = await t.running.services.db("audit_events").where({ type: "policy.updated", actor_user_id: admin.user.id });
    expect(audit.length).toBeGreaterThan(0);
  });

  it("refuses a form that breaks the rules in words next to each field, escaped, and saves nothing", async () => {
    expect((await t.fetch("/admin/policy", { method: "PUT", token: admin.token, json: { max_recipients: 9 } })).status).toBe(200);
    const evil = '"><script>alert(1)</script>';
    const res = await save({ min_ttl_days: "10", max_ttl_days: "5", max_file_bytes: "lots", blocked_recipient_domains: evil, "user.max_ttl_days": "soon" });
    expect(res.status).toBe(422);
    const page = await res.text();
    expect(page).toContain("The policy was not saved");
    expect(textOf(page, "err-max_file_bytes")).toMatch(/Give a size such as 2 GiB/);
    expect(textOf(page, "err-blocked_recipient_domains")).toMatch(/is not a domain/);
    expect(textOf(page, "err-user.max_ttl_days")).toMatch(/whole number from 1 to 365/);
    expect(page).not.toContain("<script>alert(1)</script>");
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    // What was typed stays in the form.
    expect(page).toContain('value="lots"');
    // Well-formed but contradictory: the service's refusal, next to its field.
    const contradiction = await save({ min_ttl_days: "10", max_ttl_days: "5", allowed_recipient_domains: "acme.com", blocked_recipient_domains: "*.com" });
    expect(contradiction.status).toBe(422);
    const text = await contradiction.text();
    expect(textOf(text, "err-min_ttl_days")).toMatch(/min_ttl_days \(10\) is above max_ttl_days \(5\)/);
    expect(textOf(text, "err-blocked_recipient_domains")).toMatch(/acme\.com is allowed but \*\.com blocks all of it/);
    // Without the session's CSRF token: refused.
    const forged = await a.post("/admin/policy", { ...emptyForm(), max_recipients: "1" });
    expect(forged.status).toBe(403);
    expect((await policy()).rules).toMatchObject({ max_recipients: 9, min_ttl_days: null, blocked_recipient_domains: null });
  });

  it("the new-package page, a draft's uploader and an upload request say the limits in words; a refused form says the rule", async () => {
    expect(
      (
        await t.fetch("/admin/policy", {
          method: "PUT",
          token: admin.token,
          json: { max_ttl_days: 30, allowed_recipient_domains: ["acme.com"], max_file_bytes: 2 * 1024 ** 3, quota_bytes_per_user: 50 * 1024 ** 3, max_recipients: 4 },
        })
      ).status,
    ).toBe(200);
    const u = await t.createUser();
    const draft = await createPackage(t, u.token, { recipient_email: "cfo@acme.com" });
    expect((await uploadFile(t, u.token, draft.id, "a.bin", Buffer.alloc(1536))).status).toBe(201);
    const c = await signedIn(t, u.user.email, u.password);

    const page = await (await c.get("/packages/new")).text();
    const limits = textOf(page, "policy-limits")!;
    expect(limits).toContain("Links can live at most 30 days.");
    expect(limits).toContain("Recipients must be at acme.com.");
    expect(limits).toContain("At most 4 recipients per package.");
    expect(limits).toContain("Files up to 2.0 GiB; you use 1.5 KiB of your 50.0 GiB.");
    expect(page).toMatch(/id="ttl_days"[^>]*max="30"/);
    expect(page).toContain('data-max-file-bytes="2147483648"');

    const draftPage = await (await c.get(`/packages/${draft.id}`)).text();
    expect(textOf(draftPage, "upload-limits")).toBe("Files up to 2.0 GiB; you use 1.5 KiB of your 50.0 GiB.");

    const req = await requestFiles(t, u.token, { recipient_email: "vendor@acme.com" });
    expect(textOf(await (await fetch(req.page)).text(), "upload-limits")).toBe("(files up to 2.0 GiB each)");

    // The form without JavaScript: refused in words, the rule's name nowhere.
    const refused = await c.post("/packages/new", {
      _csrf: await c.csrf(),
      direction: "outbound",
      title: "To a friend",
      recipient_email: "friend@gmail.com",
      ttl_days: "7",
    });
    expect(refused.status).toBe(422);
    const body = await refused.text();
    expect(body).toMatch(/<p class="error" role="alert">Recipients must be at acme\.com on this server; friend@gmail\.com is not<\/p>/);
    expect(body).not.toContain("policy_violation");
    expect(body).not.toContain("allowed_recipient_domains");
    const tooLong = await c.post("/packages/new", { _csrf: await c.csrf(), direction: "outbound", title: "Long", recipient_email: "cfo@acme.com", ttl_days: "60" });
    expect(tooLong.status).toBe(422);
    expect(await tooLong.text()).toContain("Links can live at most 30 days on this server; you asked for 60");
  });
});
