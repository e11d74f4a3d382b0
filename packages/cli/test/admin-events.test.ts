import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { parseCsv } from "@speedyfiles/test-utils/csv";
import { parseWhen } from "../src/commands/admin-events.js";
import { sf, tempDir } from "./helpers.js";
import { baseEnv, runSf, startSf } from "./proc.js";

const COLUMNS = ["cursor", "id", "created_at", "type", "actor_user_id", "actor_email", "user_id", "package_id", "link_id", "file_id", "client_address", "user_agent", "data"];

describe("sf admin events: --since and --until", () => {
  it("reads a time ago, a date and a date and time; refuses anything else", () => {
    const now = new Date("2026-12-10T12:00:00.000Z");
    expect(parseWhen("7d", now)).toBe("2026-12-03T12:00:00.000Z");
    expect(parseWhen("12h", now)).toBe("2026-12-10T00:00:00.000Z");
    expect(parseWhen("30m", now)).toBe("2026-12-10T11:30:00.000Z");
    expect(parseWhen("2w", now)).toBe("2026-11-26T12:00:00.000Z");
    expect(parseWhen("2026-12-01")).toBe("2026-12-01T00:00:00.000Z");
    expect(parseWhen("2026-12-01T09:30:00+01:00")).toBe("2026-12-01T08:30:00.000Z");
    for (const bad of ["", "7", "yesterday", "2026-13-01", "7y", "2026-12-01 09:00"]) expect(() => parseWhen(bad)).toThrow(/expected a time ago/);
  });
});

describe.each(DATABASES)("sf admin events (%s)", (kind) => {
  let t: TestServer;
  let env: Record<string, string>;
  let dir: string;
  let admin: Awaited<ReturnType<TestServer["createUser"]>>;
  const emails: string[] = [];

  beforeAll(async () => {
    t = await startTestServer(kind, { mail: false });
    // The admin and a user from long ago (outside --since 7d), then this week's.
    t.clock.advanceDays(-30);
    admin = await t.createUser({ role: "admin" });
    env = { SF_URL: t.url, SF_TOKEN: admin.token };
    dir = await tempDir("sf-cli-audit-");
    await t.fetch("/admin/users", { method: "POST", token: admin.token, json: { email: "old@example.com", name: "Old", password: "a long passphrase" } });
    t.clock.advanceDays(30);
    for (let i = 0; i < 5; i++) {
      const email = `cli-${i}@example.com`;
      emails.push(email);
      const name = i === 2 ? "=1+2" : `User ${i}`;
      await t.fetch("/admin/users", {
        method: "POST",
        token: admin.token,
        json: { email, name, password: "a long passphrase" },
        headers: { "User-Agent": i === 3 ? '@evil, "quoted"' : "curl/8" },
      });
    }
  });
  afterAll(async () => {
    await t?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("sf admin events --since 7d --format csv: a header row and this week's events, parsed as RFC 4180", async () => {
    const r = await sf(["admin", "events", "--since", "7d", "--format", "csv"], { env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rows = parseCsv(r.stdout);
    expect(rows[0]).toEqual(COLUMNS);
    const created = rows.slice(1).filter((row) => row[3] === "user.created");
    expect(created.map((row) => JSON.parse(row[12]!).email)).toEqual(emails);
    // Nothing from a month ago.
    expect(r.stdout).not.toContain("old@example.com");
    for (const row of created) {
      expect(row).toHaveLength(13);
      expect(row[5]).toBe(admin.user.email);
    }
    // A user agent a spreadsheet would run is defused; quotes and commas survive the round trip.
    expect(created.map((row) => row[11])).toContain(`'@evil, "quoted"`);
    // Data as JSON text: the name stays as given inside it.
    expect(JSON.parse(created[2]![12]!)).toMatchObject({ name: "=1+2" });
  });

  it("ndjson when piped, a table on a terminal, json as one array; filters by type and user", async () => {
    const piped = await sf(["admin", "events", "--since", "7d", "--type", "user.*"], { env });
    expect(piped.code).toBe(0);
    const lines = piped.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; data: { email: string }; cursor: string });
    expect(lines.map((e) => e.data.email)).toEqual(emails);

    const table = await sf(["admin", "events", "--since", "7d", "--user", emails[1]!], { env, ttyColumns: 160 });
    expect(table.code).toBe(0);
    const out = table.stdout.trim().split("\n");
    expect(out[0]).toMatch(/^TIME\s+TYPE\s+ACTOR\s+ABOUT$/);
    expect(out.slice(1)).toHaveLength(1);
    expect(out[1]).toContain("user.created");
    expect(out[1]).toContain(admin.user.email);
    expect(out[1]).toContain(emails[1]);

    const json = await sf(["admin", "events", "--since", "7d", "--type", "user.created", "--format", "json"], { env });
    expect((JSON.parse(json.stdout) as { data: { email: string } }[]).map((e) => e.data.email)).toEqual(emails);
    const none = await sf(["admin", "events", "--type", "nothing.here", "--format", "json"], { env });
    expect(JSON.parse(none.stdout)).toEqual([]);
  });

  it("--limit says where to continue; --cursor continues; --output with --resume appends after the last whole event", async () => {
    const first = await sf(["admin", "events", "--since", "7d", "--type", "user.created", "--limit", "2"], { env });
    expect(first.code).toBe(0);
    const got = first.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { cursor: string; data: { email: string } });
    expect(got.map((e) => e.data.email)).toEqual(emails.slice(0, 2));
    const next = /--cursor (\d+)/.exec(first.stderr)![1]!;
    expect(next).toBe(got[1]!.cursor);
    const rest = await sf(["admin", "events", "--since", "7d", "--type", "user.created", "--cursor", next], { env });
    expect(
      rest.stdout
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { data: { email: string } }).data.email),
    ).toEqual(emails.slice(2));

    // A file cut in the middle of a line (as a dropped connection leaves it), then resumed.
    for (const format of ["ndjson", "csv"] as const) {
      const file = path.join(dir, `audit.${format}`);
      const part = await sf(["admin", "events", "--type", "user.created", "--since", "7d", "--limit", "3", "--output", file], { env });
      expect(part.code).toBe(0);
      expect(part.stderr).toMatch(/--resume/);
      await fs.appendFile(file, format === "csv" ? "999,half-writ" : '{"cursor":"999","id":"half');
      const resumed = await sf(["admin", "events", "--type", "user.created", "--since", "7d", "--output", file, "--resume"], { env });
      expect(resumed.code).toBe(0);
      const text = await fs.readFile(file, "utf8");
      const emailsInFile =
        format === "csv"
          ? parseCsv(text)
              .slice(1)
              .map((r) => JSON.parse(r[12]!).email)
          : text
              .trim()
              .split("\n")
              .map((l) => (JSON.parse(l) as { data: { email: string } }).data.email);
      expect(emailsInFile).toEqual(emails);
      if (format === "csv") expect(text.split("\r\n").filter((l) => l.startsWith("cursor,"))).toHaveLength(1);
      expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    }
  });

  it("the built sf, as a process: --since 7d --format csv to a pipe, and a reader that stops early", async () => {
    const env2 = { ...baseEnv(dir), SF_URL: t.url, SF_TOKEN: admin.token };
    const r = await runSf(["admin", "events", "--since", "7d", "--format", "csv"], { env: env2 });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rows = parseCsv(r.stdout);
    expect(rows[0]).toEqual(COLUMNS);
    expect(
      rows
        .slice(1)
        .filter((row) => row[3] === "user.created")
        .map((row) => JSON.parse(row[12]!).email),
    ).toEqual(emails);
    // `sf admin events | head -1`: the pipe closes after the first line, while 20,000 more events
    // are on their way; sf ends quietly.
    const db = t.running.services.db;
    const last = Number(((await db("audit_event_seq").where({ id: 1 }).first("last_seq")) as { last_seq: number | string }).last_seq);
    await db.transaction(async (trx) => {
      for (let b = 0; b < 20_000; b += 500) {
        const rows = Array.from({ length: 500 }, (_, i) => ({
          id: crypto.randomUUID(),
          seq: last + b + i + 1,
          type: "package.downloaded",
          data: JSON.stringify({ n: b + i, recipient_email: "bulk@example.com" }),
          created_at: t.clock.now().toISOString(),
        }));
        await trx("audit_events").insert(rows);
      }
      await trx("audit_event_seq")
        .where({ id: 1 })
        .update({ last_seq: last + 20_000 });
    });
    const p = startSf(["admin", "events", "--since", "7d"], env2);
    p.child.stdin.end();
    p.child.stdout.once("data", () => p.child.stdout.destroy());
    const done = await p.done;
    expect(done.code).toBe(0);
    expect(done.stderr).not.toMatch(/^\s+at /m);
    expect(done.stderr).not.toMatch(/EPIPE/);
  });

  it("refuses what it can tell is wrong before asking (exit 2), and says what the server refused", async () => {
    for (const argv of [
      ["--since", "yesterday"],
      ["--format", "xml"],
      ["--limit", "0"],
      ["--package", "not-an-id"],
      ["--resume"],
      ["--output", path.join(dir, "x.txt"), "--format", "table"],
    ]) {
      const r = await sf(["admin", "events", ...argv], { env });
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
    const bad = await sf(["admin", "events", "--cursor", "nope"], { env });
    expect(bad.code).toBe(5);
    expect(bad.stderr).toMatch(/cursor/);
    const plain = await t.createUser();
    const denied = await sf(["admin", "events"], { env: { SF_URL: t.url, SF_TOKEN: plain.token } });
    expect(denied.code).toBe(3);
    expect(denied.stdout).toBe("");
  });
});
