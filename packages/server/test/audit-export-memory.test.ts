import v8 from "node:v8";
import vm from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";

// A full collection on demand, to measure what is held rather than what waits for the collector.
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

const EVENTS = 100_000;
const MiB = 1024 * 1024;

/** What this process holds after a full collection: the JS heap and the buffers outside it. */
function held(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Samples held memory every `ms` until stopped; returns the peak. */
function watchPeak(ms: number): () => number {
  let peak = held();
  const timer = setInterval(() => {
    peak = Math.max(peak, held());
  }, ms);
  return () => {
    clearInterval(timer);
    return Math.max(peak, held());
  };
}

/**
 * Reads a streamed answer line by line without keeping it: calls `line` for each, and sleeps
 * `pauseMs` after every 20th chunk (a slow client, so the server meets backpressure).
 */
async function eachLine(res: Response, line: (text: string) => void, pauseMs = 0): Promise<void> {
  let chunks = 0;
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += value;
    let nl = rest.indexOf("\n");
    while (nl >= 0) {
      line(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
      nl = rest.indexOf("\n");
    }
    if (pauseMs > 0 && ++chunks % 20 === 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  expect(rest).toBe("");
}

// One event a second from 2026-11-01, three kinds in turn; ids 00000000-0000-4000-8000-<n>.
// The data holds a file name a spreadsheet would run as a formula.
const COLUMNS = "id, seq, type, actor_user_id, actor_email, subject_id, user_id, package_id, link_id, file_id, data, client_address, user_agent, created_at";
const SEED_SQLITE = `
  insert into audit_events (${COLUMNS})
  with recursive n(i) as (select 0 union all select i + 1 from n where i < :count - 1)
  select printf('00000000-0000-4000-8000-%012d', i), :first + i,
    case i % 3 when 0 then 'package.downloaded' when 1 then 'auth.signed_in' else 'user.updated' end,
    :owner, :email, null, :owner, printf('00000000-0000-4000-9000-%012d', i), null, null,
    '{"n":' || i || ',"title":"Quarterly report ' || i || '","recipient_email":"person-' || i || '@acme.test","file_name":"=report-' || i || '.pdf","size":' || (i * 1000) || '}',
    '203.0.113.7', 'Mozilla/5.0 (X11; Linux x86_64) seeded',
    strftime('%Y-%m-%dT%H:%M:%fZ', '2026-11-01T00:00:00', '+' || i || ' seconds')
  from n`;
const SEED_POSTGRES = `
  insert into audit_events (${COLUMNS})
  select ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, :first + i,
    case i % 3 when 0 then 'package.downloaded' when 1 then 'auth.signed_in' else 'user.updated' end,
    :owner, :email, null, :owner, ('00000000-0000-4000-9000-' || lpad(i::text, 12, '0'))::uuid, null, null,
    '{"n":' || i || ',"title":"Quarterly report ' || i || '","recipient_email":"person-' || i || '@acme.test","file_name":"=report-' || i || '.pdf","size":' || (i * 1000) || '}',
    '203.0.113.7', 'Mozilla/5.0 (X11; Linux x86_64) seeded',
    to_char(timestamp '2026-11-01 00:00:00' + i * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  from generate_series(0, :count - 1) as i`;

describe.each(DATABASES)("audit export of 100,000 events in flat memory (%s)", (kind) => {
  let t: TestServer;
  let admin: Awaited<ReturnType<TestServer["createUser"]>>;
  let firstSeq: number;

  beforeAll(async () => {
    t = await startTestServer(kind, { mail: false });
    admin = await t.createUser({ role: "admin" });
    const db = t.running.services.db;
    // 100,000 events straight into the table in one statement, numbered after what is there.
    const last = Number(((await db("audit_event_seq").where({ id: 1 }).first("last_seq")) as { last_seq: number | string }).last_seq);
    firstSeq = last + 1;
    const t0 = Date.now();
    await db.raw(kind === "sqlite" ? SEED_SQLITE : SEED_POSTGRES, { first: firstSeq, count: EVENTS, owner: admin.user.id, email: admin.user.email });
    console.log(`${kind}: seeded ${EVENTS} events in ${Date.now() - t0} ms`);
    await db("audit_event_seq")
      .where({ id: 1 })
      .update({ last_seq: last + EVENTS });
  }, 300_000);
  afterAll(async () => {
    await t?.close();
  });

  const since = "2026-11-01T00:00:00.000Z";
  const until = "2026-12-01T00:00:00.000Z";
  const exportOf = (accept: string, query = "", signal?: AbortSignal) =>
    t.fetch(`/admin/events?since=${since}&until=${until}${query}`, { token: admin.token, headers: { Accept: accept }, ...(signal ? { signal } : {}) });

  it("streams all 100,000 as NDJSON to a slow client, in order, holding a few MiB at most", async () => {
    const base = held();
    // A full collection of this process (the test runner, the server, the client) takes a
    // tenth of a second or more: once a second is enough to see an export held in memory.
    const peak = watchPeak(1000);
    const res = await exportOf("application/x-ndjson");
    expect(res.status).toBe(200);
    let count = 0;
    let expected = firstSeq;
    let bytes = 0;
    await eachLine(
      res,
      (line) => {
        bytes += line.length + 1;
        const e = JSON.parse(line) as { cursor: string; data: { n: number } };
        // Compared as it passes; nothing is kept.
        if (Number(e.cursor) !== expected || e.data.n !== count) expect({ cursor: e.cursor, n: e.data.n }).toEqual({ cursor: String(expected), n: count });
        expected++;
        count++;
      },
      20,
    );
    const grew = peak() - base;
    expect(count).toBe(EVENTS);
    // Holding the export shows here as tens of MiB more (seen on SQLite: +103 MiB when every
    // batch was read before the first write, +224 MiB when writes ignored backpressure and the
    // socket's buffer took the export); a batch of 1,000 at a time stays within a few MiB of the
    // baseline (seen: +5 to +8 MiB, the client's own buffers included; +17.1 MiB once, sampled
    // during a full test run on two busy cores, where a sample can catch two batches and the
    // client's buffers at once). The bound sits well between the two.
    console.log(`${kind}: ${(bytes / MiB).toFixed(1)} MiB streamed; held memory grew by ${(grew / MiB).toFixed(1)} MiB at most`);
    expect(grew).toBeLessThan(32 * MiB);
  }, 300_000);

  it("streams all 100,000 as CSV (a header row and one record each), and stops reading when the client goes away", async () => {
    const res = await exportOf("text/csv");
    expect(res.status).toBe(200);
    let records = 0;
    let header = "";
    await eachLine(res, (line) => {
      if (header === "") header = line;
      else {
        records++;
        // The file name a spreadsheet would run as a formula is inside the JSON data cell,
        // which starts with `"{` — never with `=`.
        if (!line.startsWith(String(firstSeq + records - 1))) expect(line.slice(0, 20)).toBe(String(firstSeq + records - 1));
      }
    });
    expect(header).toBe("cursor,id,created_at,type,actor_user_id,actor_email,user_id,package_id,link_id,file_id,client_address,user_agent,data\r");
    expect(records).toBe(EVENTS);

    // The client reads a little and hangs up: the server's walk ends (no more batch queries).
    const db = t.running.services.db;
    let batches = 0;
    const onQuery = (q: { sql: string }) => {
      if (/from "audit_events"/i.test(q.sql) && /order by "seq"/i.test(q.sql)) batches++;
    };
    db.on("query", onQuery);
    try {
      const abort = new AbortController();
      const cut = await exportOf("application/x-ndjson", "", abort.signal);
      const reader = cut.body!.getReader();
      await reader.read();
      abort.abort();
      await reader.cancel().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
      const afterHangUp = batches;
      await new Promise((r) => setTimeout(r, 1000));
      expect(batches).toBe(afterHangUp);
      // 100 batches make the whole export; the walk stopped long before.
      expect(afterHangUp).toBeLessThan(50);
    } finally {
      db.off("query", onQuery);
    }
    // The server goes on answering.
    expect((await t.fetch("/admin/events?limit=1", { token: admin.token })).status).toBe(200);
  }, 300_000);
});
