import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startS3rver, type S3Server } from "@speedyfiles/test-utils/s3";
import { shareFiles, type Shared } from "@speedyfiles/test-utils/links";

/**
 * Hostile and odd Range headers on every download path, as RFC 9110 §14 says to answer them: a
 * Range the server cannot use is ignored (200, the whole file), one whose every range starts past
 * the end is 416 with `Content-Range: bytes *\/size`, never a 422 or a 5xx.
 */
const SIZE = 1000;
const bytes = crypto.randomBytes(SIZE);
const many = (n: number, f: (i: number) => string) => `bytes=${Array.from({ length: n }, (_, i) => f(i)).join(",")}`;
const nines = (n: number) => "9".repeat(n);

type Expected = { status: 200 } | { status: 206; start: number; end: number } | { status: 416 };
const whole: Expected = { status: 200 };
const unsatisfiable: Expected = { status: 416 };
const part = (start: number, end: number): Expected => ({ status: 206, start, end });

const CASES: [range: string, expected: Expected][] = [
  ["bytes=9999999999", whole],
  ["bytes=9999999999-", unsatisfiable],
  ["bytes=9999999999-99999999999", unsatisfiable],
  ["bytes=0-9999999999", part(0, SIZE - 1)],
  [`bytes=0-${nines(400)}`, part(0, SIZE - 1)],
  [`bytes=${nines(400)}-`, unsatisfiable],
  [`bytes=-${nines(30)}`, part(0, SIZE - 1)],
  [`bytes=-${nines(400)}`, part(0, SIZE - 1)],
  ["bytes=10-5", whole],
  ["bytes=abc", whole],
  ["bytes=-", whole],
  ["bytes=", whole],
  ["bytes", whole],
  ["=0-9", whole],
  ["items=0-9", whole],
  ["bytes=1.5-3", whole],
  ["bytes=0x10-0x20", whole],
  ["bytes=-1-2", whole],
  ["bytes=+1-2", whole],
  ["bytes=0-9;q=1", whole],
  ["bytes=0-9, 20-29", whole],
  ["bytes=0-9,0-9,0-9", whole],
  ["bytes=5000-6000,0-9", whole],
  ["bytes=5000-,6000-7000", unsatisfiable],
  ["BYTES=0-9", part(0, 9)],
  ["bytes=0-9,", part(0, 9)],
  ["bytes = 0-9", whole],
  [many(1500, (i) => `${i}-${i}`), whole],
  [many(1500, () => "0-"), whole],
  [many(1500, (i) => `${5000 + i}-`), whole],
  [many(101, (i) => `${i}-${i}`), whole],
  [many(100, (i) => `${5000 + i}-`), unsatisfiable],
];

const label = (range: string) => (range.length > 48 ? `${range.slice(0, 48)}… (${range.length} characters)` : range);

/** What went wrong with one answer, or undefined when it is the expected one. */
async function mismatch(res: Response, range: string, expected: Expected, head: boolean): Promise<string | undefined> {
  const body = Buffer.from(await res.arrayBuffer());
  const at = `${head ? "HEAD" : "GET"} ${label(range)}`;
  if (res.status !== expected.status) return `${at}: ${res.status}, not ${expected.status}`;
  const contentRange = res.headers.get("content-range");
  if (expected.status === 416) return contentRange === `bytes */${SIZE}` ? undefined : `${at}: Content-Range ${contentRange}`;
  const [start, end] = expected.status === 206 ? [expected.start, expected.end] : [0, SIZE - 1];
  if (res.headers.get("content-length") !== String(end - start + 1)) return `${at}: Content-Length ${res.headers.get("content-length")}`;
  if (contentRange !== (expected.status === 206 ? `bytes ${start}-${end}/${SIZE}` : null)) return `${at}: Content-Range ${contentRange}`;
  if (!head && !body.equals(bytes.subarray(start, end + 1))) return `${at}: other bytes`;
  return undefined;
}

describe.each(DATABASES)("hostile Range headers (%s)", (kind) => {
  let t: TestServer;
  let token: string;
  let shared: Shared;

  beforeAll(async () => {
    t = await startTestServer(kind);
    token = (await t.createUser()).token;
    shared = await shareFiles(t, token, [
      ["range.bin", bytes],
      ["other.txt", "other"],
    ]);
  });
  afterAll(async () => {
    await t?.close();
  });

  for (const method of ["GET", "HEAD"] as const) {
    it(`owner ${method}: ignored (200), partial (206) or unsatisfiable (416), never 422`, async () => {
      const wrong = [];
      for (const [range, expected] of CASES) {
        const res = await t.fetch(`/packages/${shared.id}/files/${shared.files[0]!.id}`, { method, token, headers: { Range: range } });
        wrong.push(await mismatch(res, range, expected, method === "HEAD"));
      }
      expect(wrong.filter(Boolean)).toEqual([]);
    });

    it(`link ${method}: ignored (200), partial (206) or unsatisfiable (416), never 422`, async () => {
      const wrong = [];
      for (const [range, expected] of CASES) {
        const res = await fetch(`${shared.api}/files/${shared.files[0]!.id}`, { method, headers: { Range: range } });
        wrong.push(await mismatch(res, range, expected, method === "HEAD"));
      }
      expect(wrong.filter(Boolean)).toEqual([]);
    });
  }

  it("the zip of a link ignores any Range: 200 and the whole archive", async () => {
    const full = await fetch(`${shared.api}/archive`);
    expect(full.status).toBe(200);
    const length = full.headers.get("content-length");
    await full.arrayBuffer();
    for (const range of ["bytes=0-9", "bytes=9999999999", many(1500, (i) => `${i}-${i}`)]) {
      for (const method of ["GET", "HEAD"]) {
        const res = await fetch(`${shared.api}/archive`, { method, headers: { Range: range } });
        expect(res.status, `${method} ${label(range)}`).toBe(200);
        expect(res.headers.get("content-length")).toBe(length);
        expect(res.headers.get("content-range")).toBeNull();
        await res.arrayBuffer();
      }
    }
  });
});

describe.each(DATABASES)("hostile Range headers with presigned S3 downloads (%s)", (kind) => {
  let s3: S3Server;
  let t: TestServer;
  let token: string;
  let shared: Shared;

  beforeAll(async () => {
    s3 = await startS3rver();
    t = await startTestServer(kind, { s3: { server: s3, presign: true } });
    token = (await t.createUser()).token;
    shared = await shareFiles(t, token, [["range.bin", bytes]]);
  });
  afterAll(async () => {
    await t?.close();
    await s3?.stop();
  });

  it("a usable or ignored Range is redirected to the store, an unsatisfiable one answers 416 here", async () => {
    const wrong = [];
    for (const [who, url] of [
      ["owner", `${t.api}/packages/${shared.id}/files/${shared.files[0]!.id}`],
      ["link", `${shared.api}/files/${shared.files[0]!.id}`],
    ]) {
      for (const [range, expected] of CASES) {
        const res = await fetch(url!, { headers: { Range: range, Authorization: `Bearer ${token}` }, redirect: "manual" });
        await res.arrayBuffer();
        const want = expected.status === 416 ? 416 : 302;
        if (res.status !== want) wrong.push(`${who} ${label(range)}: ${res.status}, not ${want}`);
        else if (want === 416 && res.headers.get("content-range") !== `bytes */${SIZE}`) wrong.push(`${who} ${label(range)}: ${res.headers.get("content-range")}`);
        else if (want === 302 && !res.headers.get("location")) wrong.push(`${who} ${label(range)}: no Location`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
