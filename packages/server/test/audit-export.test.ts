import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError, expectUnauthorized, expectValidationError } from "@speedyfiles/test-utils/expect";
import { parseCsv } from "@speedyfiles/test-utils/csv";
import { signedIn, WebClient } from "@speedyfiles/test-utils/web";
import type { components } from "../src/generated/api.js";

type AuditEvent = components["schemas"]["AuditEvent"];
type Page = components["schemas"]["AuditEventList"];

const COLUMNS = ["cursor", "id", "created_at", "type", "actor_user_id", "actor_email", "user_id", "package_id", "link_id", "file_id", "client_address", "user_agent", "data"];

describe.each(DATABASES)("audit export: GET /admin/events (%s)", (kind) => {
  let t: TestServer;
  let admin: Awaited<ReturnType<TestServer["createUser"]>>;
  let plain: Awaited<ReturnType<TestServer["createUser"]>>;

  const events = (query = "", init: RequestInit & { token?: string } = {}) => t.fetch(`/admin/events${query}`, { token: admin.token, ...init });
  const page = async (query = ""): Promise<Page> => {
    const res = await events(query);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as Page;
  };
  /** Every event the JSON pages hold, following next_cursor. */
  const walk = async (query: string, perPage = 1000): Promise<AuditEvent[]> => {
    const out: AuditEvent[] = [];
    let cursor: string | null = null;
    do {
      const p: Page = await page(`?limit=${perPage}${query}${cursor ? `&cursor=${cursor}` : ""}`);
      out.push(...p.items);
      cursor = p.next_cursor;
    } while (cursor);
    return out;
  };
  const createUser = (email: string, name = "Someone") => t.fetch("/admin/users", { method: "POST", token: admin.token, json: { email, name, password: "correct horse" } });

  beforeAll(async () => {
    t = await startTestServer(kind);
    [admin, plain] = await Promise.all([t.createUser({ role: "admin" }), t.createUser()]);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("refuses an anonymous caller (401), a plain user (403), a wrong token (401), and leaves no trace of the refusals", async () => {
    await expectUnauthorized(await t.fetch("/admin/events"));
    await expectUnauthorized(await t.fetch("/admin/events", { token: `sf_${"A".repeat(43)}` }));
    await expectError(await t.fetch("/admin/events", { token: plain.token }), 403, "admin_required");
    await expectError(await t.fetch("/admin/events", { token: plain.token, headers: { Accept: "text/csv" } }), 403, "admin_required");
    const before = await walk("");
    await events("?type=nothing.at_all");
    expect(await walk("")).toEqual(before);
  });

  it("answers 406 not_acceptable when Accept names none of its formats, and JSON without Accept or for */*", async () => {
    for (const accept of ["text/html", "application/xml", "image/png"]) {
      await expectError(await events("", { headers: { Accept: accept } }), 406, "not_acceptable");
    }
    for (const accept of ["*/*", "application/json", "application/*", "text/html;q=0.9, application/json"]) {
      const res = await events("", { headers: { Accept: accept } });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    }
  });

  it("answers 422 for a malformed cursor, limit, type, date or user, and an empty range", async () => {
    await expectValidationError(await events("?cursor=abc"), "/query/cursor");
    await expectValidationError(await events("?cursor=-1"), "/query/cursor");
    await expectValidationError(await events("?cursor=1e3"), "/query/cursor");
    await expectValidationError(await events("?limit=0"), "/query/limit");
    await expectValidationError(await events("?limit=1001"), "/query/limit");
    await expectValidationError(await events("?limit=ten"), "/query/limit");
    await expectValidationError(await events("?type=Package.Created"), "/query/type");
    await expectValidationError(await events("?type=package.*.*"), "/query/type");
    await expectValidationError(await events("?since=yesterday"), "/query/since");
    await expectValidationError(await events(`?until=${encodeURIComponent("2026-13-01T00:00:00Z")}`), "/query/until");
    await expectValidationError(await events("?package=not-a-uuid"), "/query/package");
    await expectValidationError(await events(`?since=${encodeURIComponent("2026-12-02T00:00:00Z")}&until=${encodeURIComponent("2026-12-01T00:00:00Z")}`), "/query/until");
    // Reserved characters may come unencoded in these parameters (`:` `*` `@`), as curl users type them.
    expect((await events("?since=2026-12-02T00:00:00Z&type=package.*,user.*&user=a@b.test")).status).toBe(200);
    await expectValidationError(await events("?user="), "/query/user");
    await expectValidationError(await events("?surprise=1"));
    // Streamed formats refuse the same before any byte.
    await expectValidationError(await events("?cursor=abc", { headers: { Accept: "application/x-ndjson" } }), "/query/cursor");
    await expectValidationError(await events("?cursor=abc", { headers: { Accept: "text/csv" } }), "/query/cursor");
  });

  it("records admin actions and filters them by user (id or email), type (exact, family, list) and time", async () => {
    const tag = crypto.randomBytes(4).toString("hex");
    const email = `filtered-${tag}@example.com`;
    const res = await createUser(email);
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string };
    t.clock.advance(60_000);
    const mark = t.clock.now().toISOString();
    t.clock.advance(60_000);
    await t.fetch(`/admin/users/${created.id}`, { method: "PATCH", token: admin.token, json: { name: "Renamed", disabled: true } });

    const byId = await walk(`&user=${created.id}`);
    expect(byId.map((e) => e.type)).toEqual(["user.created", "user.updated", "user.disabled"]);
    expect(await walk(`&user=${encodeURIComponent(email.toUpperCase())}`)).toEqual(byId);
    expect(await walk(`&user=${encodeURIComponent(`nobody-${tag}@example.com`)}`)).toEqual([]);
    expect(await walk(`&user=${crypto.randomUUID()}`)).toEqual([]);

    expect((await walk(`&user=${created.id}&type=user.disabled`)).map((e) => e.type)).toEqual(["user.disabled"]);
    expect((await walk(`&user=${created.id}&type=user.created,user.disabled`)).map((e) => e.type)).toEqual(["user.created", "user.disabled"]);
    expect((await walk(`&user=${created.id}&type=user.created&type=user.disabled`)).map((e) => e.type)).toEqual(["user.created", "user.disabled"]);
    expect((await walk(`&user=${created.id}&type=user.*`)).map((e) => e.type)).toEqual(["user.created", "user.updated", "user.disabled"]);
    expect(await walk(`&user=${created.id}&type=package.*`)).toEqual([]);
    // `_` in a family is a letter, not a wildcard.
    expect(await walk(`&user=${created.id}&type=use_.*`)).toEqual([]);

    expect((await walk(`&user=${created.id}&until=${encodeURIComponent(mark)}`)).map((e) => e.type)).toEqual(["user.created"]);
    expect((await walk(`&user=${created.id}&since=${encodeURIComponent(mark)}`)).map((e) => e.type)).toEqual(["user.updated", "user.disabled"]);
    // The admin is the actor: their own filter finds the same events.
    expect((await walk(`&user=${admin.user.id}&type=user.*`)).map((e) => e.id)).toEqual(expect.arrayContaining(byId.map((e) => e.id)));
  });

  it("pages by cursor with no gap and no repeat, events written during the walk included once", async () => {
    const tag = crypto.randomBytes(4).toString("hex");
    for (let i = 0; i < 7; i++) expect((await createUser(`walk-${i}-${tag}@example.com`)).status).toBe(201);
    const all = await walk("");
    const seen: AuditEvent[] = [];
    let cursor: string | null = null;
    let written = 0;
    do {
      const p: Page = await page(`?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      expect(p.items.length).toBeLessThanOrEqual(3);
      seen.push(...p.items);
      cursor = p.next_cursor;
      // Someone acts while the walk goes on: their events come after what was read.
      if (written < 4) expect((await createUser(`during-${written++}-${tag}@example.com`)).status).toBe(201);
    } while (cursor);
    const ids = seen.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.slice(0, all.length)).toEqual(all.map((e) => e.id));
    const during = seen.filter((e) => e.type === "user.created" && String(e.data.email).startsWith("during-"));
    expect(during.map((e) => e.data.email)).toEqual([0, 1, 2, 3].map((i) => `during-${i}-${tag}@example.com`));
    // Cursors increase along the walk, and each event's cursor continues right after it.
    const cursors = seen.map((e) => Number(e.cursor));
    expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
    const mid = seen[5]!;
    expect((await page(`?limit=2&cursor=${mid.cursor}`)).items.map((e) => e.id)).toEqual(ids.slice(6, 8));
    // A cursor past the end: nothing yet.
    expect(await page(`?cursor=${Number(seen.at(-1)!.cursor) + 1000}`)).toEqual({ items: [], next_cursor: null });
  });

  it("concurrent writers: a walk while 40 actions run at once sees each event once, in the order of its cursor", async () => {
    const before = await walk("");
    const after = before.at(-1)!.cursor;
    const actions = Promise.all(
      Array.from({ length: 40 }, (_, i) => t.fetch("/me/tokens", { method: "POST", token: plain.token, json: { name: `burst-${i}` } }).then((r) => r.status)),
    );
    // Walk with small pages while they commit, until all 40 have been seen.
    const seen: AuditEvent[] = [];
    let cursor = after;
    let settled = false;
    void actions.then(() => (settled = true));
    for (;;) {
      const p = await page(`?limit=2&type=token.created&cursor=${cursor}`);
      seen.push(...p.items);
      if (p.items.length > 0) cursor = p.items.at(-1)!.cursor;
      if (settled && p.next_cursor === null && p.items.length === 0) break;
    }
    expect(await actions).toEqual(Array(40).fill(201));
    const names = seen.map((e) => (e.data.token as { name: string }).name);
    expect(new Set(names).size).toBe(40);
    expect(names).toHaveLength(40);
    const cursors = seen.map((e) => Number(e.cursor));
    expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
    // The walk missed none: it equals the whole export after the same cursor.
    expect(seen.map((e) => e.id)).toEqual((await walk(`&type=token.created&cursor=${after}`)).map((e) => e.id));
  });

  it("streams NDJSON and CSV: the same events, one per line or record, with X-Next-Cursor when limit cuts them", async () => {
    const tag = crypto.randomBytes(4).toString("hex");
    // A name and a user agent a spreadsheet would run as formulas, and a name with quotes, a comma and a line break.
    const nasty = await t.fetch("/admin/users", {
      method: "POST",
      token: admin.token,
      json: { email: `csv-${tag}@example.com`, name: '=HYPERLINK("http://evil.test","x"), and "more"', password: "correct horse" },
      headers: { "User-Agent": "=cmd|' /C calc'!A0" },
    });
    expect(nasty.status).toBe(201);
    for (const ua of ["+1+1", "-2+3", "@SUM(A1)", "plain, with comma"]) {
      expect(
        (await t.fetch("/auth/token", { method: "POST", json: { email: `csv-${tag}@example.com`, password: "wrong one", name: "x" }, headers: { "User-Agent": ua } })).status,
      ).toBe(401);
    }
    const json = await walk("");

    const nd = await events("", { headers: { Accept: "application/x-ndjson" } });
    expect(nd.status).toBe(200);
    expect(nd.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
    expect(nd.headers.get("x-next-cursor")).toBeNull();
    const ndText = await nd.text();
    expect(ndText.endsWith("\n")).toBe(true);
    const lines = ndText
      .slice(0, -1)
      .split("\n")
      .map((l) => JSON.parse(l) as AuditEvent);
    expect(lines).toEqual(json);

    const csv = await events("", { headers: { Accept: "text/csv" } });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(csv.headers.get("content-disposition")).toMatch(/^attachment/);
    const csvText = await csv.text();
    expect(csvText.split("\r\n")[0]).toBe(COLUMNS.join(","));
    const rows = parseCsv(csvText);
    expect(rows[0]).toEqual(COLUMNS);
    expect(rows.length - 1).toBe(json.length);
    const defuse = (v: string | null) => (v === null ? "" : /^[=+\-@\t\r]/.test(v) ? `'${v}` : v);
    for (const [i, e] of json.entries()) {
      const row = rows[i + 1]!;
      expect(row.slice(0, 12)).toEqual(COLUMNS.slice(0, 12).map((c) => defuse(e[c as keyof AuditEvent] as string | null)));
      expect(JSON.parse(row[12]!)).toEqual(e.data);
    }
    const uas = rows.slice(1).map((r) => r[11]);
    for (const ua of ["'=cmd|' /C calc'!A0", "'+1+1", "'-2+3", "'@SUM(A1)", "plain, with comma"]) expect(uas).toContain(ua);
    // The name with quotes and a comma is inside the data cell's JSON, which parses back.
    const created = rows.find((r) => r[3] === "user.created" && r[12]!.includes(`csv-${tag}`))!;
    expect(JSON.parse(created[12]!)).toMatchObject({ name: '=HYPERLINK("http://evil.test","x"), and "more"' });

    // limit cuts a stream: the header names where to continue, and continuing gives the rest.
    for (const accept of ["application/x-ndjson", "text/csv"]) {
      const first = await events("?limit=3", { headers: { Accept: accept } });
      const next = first.headers.get("x-next-cursor");
      const body = await first.text();
      const got =
        accept === "text/csv"
          ? parseCsv(body)
              .slice(1)
              .map((r) => r[1])
          : body
              .trim()
              .split("\n")
              .map((l) => (JSON.parse(l) as AuditEvent).id);
      expect(got).toEqual(json.slice(0, 3).map((e) => e.id));
      expect(next).toBe(json[2]!.cursor);
      const rest = await events(`?cursor=${next}`, { headers: { Accept: "application/x-ndjson" } });
      expect(rest.headers.get("x-next-cursor")).toBeNull();
      expect(
        (await rest.text())
          .trim()
          .split("\n")
          .map((l) => (JSON.parse(l) as AuditEvent).id),
      ).toEqual(json.slice(3).map((e) => e.id));
    }
    // A limit that takes everything: no header.
    const exact = await events(`?limit=${json.length}`, { headers: { Accept: "application/x-ndjson" } });
    expect(exact.headers.get("x-next-cursor")).toBeNull();
    expect((await exact.text()).trim().split("\n")).toHaveLength(json.length);
    // Nothing matches: an empty NDJSON body, a CSV of the header row alone.
    expect(await (await events("?type=nothing.here", { headers: { Accept: "application/x-ndjson" } })).text()).toBe("");
    expect(await (await events("?type=nothing.here", { headers: { Accept: "text/csv" } })).text()).toBe(`${COLUMNS.join(",")}\r\n`);
  });

  it("the admin page links the CSV export, which streams the same events; others get the 403 page or the sign-in page", async () => {
    const page = await signedIn(t, admin.user.email, admin.password);
    const users = await (await page.get("/admin/users")).text();
    expect(users).toContain('<a class="button" href="/admin/audit.csv" download>Export the audit trail as CSV</a>');
    const csv = await page.get("/admin/audit.csv");
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(csv.headers.get("content-disposition")).toBe('attachment; filename="speedyfiles-audit.csv"');
    const rows = parseCsv(await csv.text());
    expect(rows[0]).toEqual(COLUMNS);
    const api = await walk("");
    // The page's own sign-in is in both; the CSV was cut when it started, the walk after.
    expect(rows.slice(1).map((r) => r[1])).toEqual(api.slice(0, rows.length - 1).map((e) => e.id));
    const plainPage = await signedIn(t, plain.user.email, plain.password);
    expect((await plainPage.get("/admin/audit.csv")).status).toBe(403);
    const anonymous = await new WebClient(t).get("/admin/audit.csv");
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get("location")).toMatch(/^\/login/);
  });

  it("NDJSON writes C1 and bidi controls as \\u escapes (inert on a terminal), the same text once parsed", async () => {
    const tried = "mallory\u009b31m\u202e@example.com";
    // The sign-in form takes any text as the email (the API's checks its format).
    expect((await new WebClient(t).signIn(tried, "whatever it is")).status).toBe(401);
    const res = await events("?type=auth.sign_in_failed", { headers: { Accept: "application/x-ndjson" } });
    const text = await res.text();
    expect(text).not.toMatch(/[\u0080-\u009f\u202e]/);
    expect(text).toContain("\\u009b31m\\u202e");
    const last = JSON.parse(text.trim().split("\n").at(-1)!) as AuditEvent;
    expect(last.data.email).toBe(tried);
  });
});
