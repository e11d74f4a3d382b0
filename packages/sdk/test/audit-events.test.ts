import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { parseCsv } from "@speedyfiles/test-utils/csv";
import { AuthenticationError, PermissionError, SpeedyFiles, ValidationError, type AuditEvent } from "../src/index.js";

describe.each(DATABASES)("admin.events: the audit trail through the SDK (%s)", (kind) => {
  let t: TestServer;
  let root: SpeedyFiles;
  let dir: string;
  const emails: string[] = [];

  beforeAll(async () => {
    t = await startTestServer(kind, { mail: false });
    const admin = await t.createUser({ role: "admin" });
    root = new SpeedyFiles({ baseUrl: t.url, token: admin.token });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-sdk-audit-"));
    for (let i = 0; i < 12; i++) {
      const email = `sdk-${i}@example.com`;
      emails.push(email);
      t.clock.advance(1000);
      await root.admin.users.create({ email, name: `User ${i}`, password: "a long passphrase" });
    }
  });
  afterAll(async () => {
    await t?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const created = (list: AuditEvent[]) => list.filter((e) => e.type === "user.created" && emails.includes(String(e.data.email))).map((e) => e.data.email);

  it("list() is a page with next_cursor; iterate() follows the cursor across pages, with filters and a Date for since", async () => {
    const first = await root.admin.events.list({ type: "user.created", limit: 5 });
    expect(first.items).toHaveLength(5);
    expect(first.next_cursor).toBe(first.items[4]!.cursor);
    const rest = await root.admin.events.list({ type: ["user.created"], cursor: first.next_cursor! });
    expect(rest.next_cursor).toBeNull();

    const all = await root.admin.events.iterate({ type: "user.*", pageSize: 4 }).toArray();
    expect(created(all)).toEqual(emails);
    const walked: AuditEvent[] = [];
    for await (const e of root.admin.events.iterate({ since: new Date(t.clock.now().getTime() - 4500), type: "user.created", pageSize: 2 })) walked.push(e);
    expect(created(walked)).toEqual(emails.slice(-5));
    // Resuming from a cursor kept along the way.
    const resumed = await root.admin.events.iterate({ type: "user.created", cursor: all.find((e) => e.data.email === emails[9])!.cursor }).toArray();
    expect(created(resumed)).toEqual(emails.slice(10));
    // By user, by email.
    expect((await root.admin.events.list({ user: emails[3]! })).items.map((e) => e.type)).toEqual(["user.created"]);
  });

  it("stream() and download(): NDJSON and CSV, cut by limit with nextCursor, resumed into the same file", async () => {
    const ndjson = await root.admin.events.stream({ type: "user.created" }, { format: "ndjson" });
    expect(ndjson.nextCursor).toBeNull();
    const lines = (await new Response(ndjson.body).text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as AuditEvent);
    expect(created(lines)).toEqual(emails);

    const file = path.join(dir, "audit.csv");
    const part = await root.admin.events.download(file, { type: "user.created", limit: 7 }, { format: "csv" });
    expect(part.nextCursor).not.toBeNull();
    const more = await root.admin.events.download(file, { type: "user.created", cursor: part.nextCursor! }, { format: "csv", append: true });
    expect(more.nextCursor).toBeNull();
    const rows = parseCsv(await fs.readFile(file, "utf8"));
    // One header row, then every event once.
    expect(rows[0]![0]).toBe("cursor");
    expect(rows.filter((r) => r[0] === "cursor")).toHaveLength(1);
    expect(
      rows
        .slice(1)
        .map((r) => JSON.parse(r[12]!).email)
        .filter((e: string) => emails.includes(e)),
    ).toEqual(emails);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);

    const nd = path.join(dir, "audit.ndjson");
    const got = await root.admin.events.download(nd, { type: "user.created" }, { format: "ndjson" });
    expect(got.bytes).toBe((await fs.stat(nd)).size);
  });

  it("errors are typed: a user's token PermissionError, no token AuthenticationError, a bad cursor ValidationError", async () => {
    const plain = new SpeedyFiles({ baseUrl: t.url, token: (await t.createUser()).token });
    await expect(plain.admin.events.list()).rejects.toBeInstanceOf(PermissionError);
    await expect(plain.admin.events.stream({}, { format: "csv" })).rejects.toMatchObject({ status: 403, code: "admin_required" });
    await expect(new SpeedyFiles({ baseUrl: t.url, token: `sf_${"A".repeat(43)}` }).admin.events.list()).rejects.toBeInstanceOf(AuthenticationError);
    await expect(root.admin.events.list({ cursor: "nope" })).rejects.toBeInstanceOf(ValidationError);
    await expect(root.admin.events.stream({ cursor: "nope" }, { format: "ndjson" })).rejects.toBeInstanceOf(ValidationError);
  });
});
