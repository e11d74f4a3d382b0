import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { requestFiles, shareFiles, uploadToLink } from "@speedyfiles/test-utils/links";
import { migrate } from "../src/db/knex.js";
import { migrations, migrationSource } from "../src/db/migrations/index.js";

interface Row {
  id: string;
  seq: number | string;
  type: string;
  user_id: string | null;
  package_id: string | null;
  link_id: string | null;
  file_id: string | null;
  data: string;
  created_at: string;
}

describe.each(DATABASES)("the audit export's migration (%s)", (kind) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(kind, { mail: false });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("brings the link activity recorded before it (package_events) into the trail, numbered by time, and numbers new events after it", async () => {
    const owner = await t.createUser();
    // A download is recorded once its last byte is sent, after the answer's headers: wait for each
    // line before the clock moves on, so the lines' times are in the order of the requests.
    const recorded = async (n: number) => {
      await expect.poll(async () => Number((await t.running.services.db("package_events").count({ n: "*" }))[0]!.n), { timeout: 10_000 }).toBe(n);
    };
    const out = await shareFiles(t, owner.token, [["a.txt", "aaa"]], { title: "Before the upgrade" });
    t.clock.advance(1000);
    const fileAnswer = await fetch(`${out.api}/files/${out.files[0]!.id}`);
    expect(fileAnswer.status).toBe(200);
    await fileAnswer.arrayBuffer();
    await recorded(1);
    t.clock.advance(1000);
    const zipAnswer = await fetch(`${out.api}/archive`);
    expect(zipAnswer.status).toBe(200);
    await zipAnswer.arrayBuffer();
    await recorded(2);
    const inbound = await requestFiles(t, owner.token, { recipient_email: "vendor@supplier.test" });
    t.clock.advance(1000);
    expect((await uploadToLink(inbound.api, "b.txt", "bb")).status).toBe(201);
    t.clock.advance(1000);
    expect((await fetch(`${inbound.api}/complete`, { method: "POST" })).status).toBe(200);
    const db = t.running.services.db;
    const old = (await db("package_events").orderBy("created_at")) as { id: string; type: string; created_at: string }[];
    expect(old.map((e) => e.type)).toEqual(["file_download", "archive_download", "upload", "complete"]);

    // The server as it was before this version: no trail of these (an older trust-policy event stays).
    // (every migration from the audit export's on, newest first).
    const names = migrations.map(([name]) => name);
    for (const name of names.slice(names.indexOf("20261211300000_audit_export")).reverse()) await db.migrate.down({ migrationSource, name });
    await db("audit_events").insert({
      id: "00000000-0000-4000-8000-000000000001",
      type: "trust_policy.created",
      actor_user_id: owner.user.id,
      subject_id: "00000000-0000-4000-8000-0000000000aa",
      data: "{}",
      client_address: null,
      user_agent: null,
      created_at: "2026-01-01T00:00:00.000Z",
    });

    await migrate(db);
    const rows = (await db("audit_events").orderBy("seq")) as Row[];
    expect(rows.map((r) => [Number(r.seq), r.type])).toEqual([
      [1, "trust_policy.created"],
      [2, "package.downloaded"],
      [3, "package.downloaded"],
      [4, "package.uploaded"],
      [5, "package.completed"],
    ]);
    const [, file, archive, upload, complete] = rows;
    expect(file).toMatchObject({
      id: old[0]!.id,
      user_id: owner.user.id,
      package_id: out.id,
      file_id: out.files[0]!.id,
      link_id: expect.any(String),
      created_at: old[0]!.created_at,
    });
    expect(JSON.parse(file!.data)).toEqual({ recipient_email: "cfo@acme.test", what: "file", file_name: "a.txt" });
    expect(JSON.parse(archive!.data)).toEqual({ recipient_email: "cfo@acme.test", what: "archive" });
    expect(upload).toMatchObject({ package_id: inbound.id, user_id: owner.user.id });
    expect(JSON.parse(upload!.data)).toEqual({ recipient_email: "vendor@supplier.test", file_name: "b.txt" });
    expect(complete).toMatchObject({ package_id: inbound.id });

    // New events take the numbers after these, and the export shows them all in that order.
    const admin = await t.createUser({ role: "admin" });
    const res = await t.fetch("/admin/events", { token: admin.token });
    const items = ((await res.json()) as { items: { cursor: string; type: string }[] }).items;
    expect(items.slice(0, 5).map((e) => e.cursor)).toEqual(["1", "2", "3", "4", "5"]);
    expect(items.slice(5).map((e) => e.type)).toEqual(["user.created", "token.created"]);
    expect(items.slice(5).map((e) => e.cursor)).toEqual(["6", "7"]);
  });
});
