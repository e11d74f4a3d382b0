// Every refusal of the tus routes is ours: a 4xx with `{"detail", "code"}` (never a 5xx for a
// client's mistake, never an error-level log line), including @tus/server's own refusals and
// the tus extensions this server does not offer (concatenation, deferred lengths).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { createPackage } from "@speedyfiles/test-utils/uploads";
import { expectError } from "@speedyfiles/test-utils/expect";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const TUS = { "Tus-Resumable": "1.0.0" };
const OCTETS = { "Content-Type": "application/offset+octet-stream" };

class LogCapture {
  text = "";
  write(chunk: string): void {
    this.text += chunk;
  }
  /** Lines at error level or above (pino: 50 error, 60 fatal). */
  errors(): string[] {
    return this.text.split("\n").filter((l) => l && (JSON.parse(l) as { level: number }).level >= 50);
  }
}

interface Case {
  name: string;
  method: "POST" | "PATCH" | "HEAD" | "DELETE";
  headers: Record<string, string>;
  body?: string;
  status: number;
  code: string;
}

const META = `filename ${b64("a.txt")}`;

const CREATION: Case[] = [
  // Without Upload-Length the spec's check refuses first (the header is required).
  {
    name: "Upload-Defer-Length (deferred length)",
    method: "POST",
    headers: { ...TUS, "Upload-Defer-Length": "1", "Upload-Metadata": META },
    status: 422,
    code: "validation_failed",
  },
  {
    name: "Upload-Defer-Length beside Upload-Length",
    method: "POST",
    headers: { ...TUS, "Upload-Length": "10", "Upload-Defer-Length": "1", "Upload-Metadata": META },
    status: 422,
    code: "upload_length_required",
  },
  {
    name: "Upload-Concat: partial (tus-js-client parallelUploads)",
    method: "POST",
    headers: { ...TUS, "Upload-Length": "10", "Upload-Concat": "partial", "Upload-Metadata": META },
    status: 422,
    code: "tus_extension_unsupported",
  },
  {
    name: "Upload-Concat: final",
    method: "POST",
    headers: { ...TUS, "Upload-Length": "10", "Upload-Concat": "final;/a /b", "Upload-Metadata": META },
    status: 422,
    code: "tus_extension_unsupported",
  },
  { name: "Upload-Length negative", method: "POST", headers: { ...TUS, "Upload-Length": "-1", "Upload-Metadata": META }, status: 422, code: "validation_failed" },
  { name: "Upload-Length not a number", method: "POST", headers: { ...TUS, "Upload-Length": "ten", "Upload-Metadata": META }, status: 422, code: "validation_failed" },
  {
    name: "Upload-Length huge (past 2^53)",
    method: "POST",
    headers: { ...TUS, "Upload-Length": "99999999999999999999", "Upload-Metadata": META },
    status: 422,
    code: "validation_failed",
  },
  { name: "Upload-Length in exponent form", method: "POST", headers: { ...TUS, "Upload-Length": "1e3", "Upload-Metadata": META }, status: 422, code: "validation_failed" },
  { name: "Upload-Length missing", method: "POST", headers: { ...TUS, "Upload-Metadata": META }, status: 422, code: "validation_failed" },
  { name: "Upload-Metadata not base64", method: "POST", headers: { ...TUS, "Upload-Length": "10", "Upload-Metadata": "filename !!!" }, status: 422, code: "validation_failed" },
  {
    name: "Upload-Metadata with a key twice",
    method: "POST",
    headers: { ...TUS, "Upload-Length": "10", "Upload-Metadata": `filename ${b64("a")},filename ${b64("b")}` },
    status: 422,
    code: "validation_failed",
  },
  {
    name: "Upload-Metadata with three parts in a pair",
    method: "POST",
    headers: { ...TUS, "Upload-Length": "10", "Upload-Metadata": `filename ${b64("a")} x` },
    status: 422,
    code: "validation_failed",
  },
  { name: "Tus-Resumable missing", method: "POST", headers: { "Upload-Length": "10", "Upload-Metadata": META }, status: 412, code: "tus_version_unsupported" },
  {
    name: "Tus-Resumable another version",
    method: "POST",
    headers: { "Tus-Resumable": "2.0.0", "Upload-Length": "10", "Upload-Metadata": META },
    status: 412,
    code: "tus_version_unsupported",
  },
];

const ON_UPLOAD: Case[] = [
  { name: "PATCH Upload-Offset not a number", method: "PATCH", headers: { ...TUS, ...OCTETS, "Upload-Offset": "zero" }, body: "abc", status: 422, code: "validation_failed" },
  { name: "PATCH Upload-Offset negative", method: "PATCH", headers: { ...TUS, ...OCTETS, "Upload-Offset": "-1" }, body: "abc", status: 422, code: "validation_failed" },
  { name: "PATCH Upload-Offset in exponent form", method: "PATCH", headers: { ...TUS, ...OCTETS, "Upload-Offset": "0e0" }, body: "abc", status: 422, code: "validation_failed" },
  { name: "PATCH Upload-Offset missing", method: "PATCH", headers: { ...TUS, ...OCTETS }, body: "abc", status: 422, code: "validation_failed" },
  {
    name: "PATCH Upload-Offset past the stored offset",
    method: "PATCH",
    headers: { ...TUS, ...OCTETS, "Upload-Offset": "5" },
    body: "abc",
    status: 409,
    code: "upload_offset_mismatch",
  },
  {
    name: "PATCH wrong Content-Type",
    method: "PATCH",
    headers: { ...TUS, "Upload-Offset": "0", "Content-Type": "application/octet-stream" },
    body: "abc",
    status: 415,
    code: "unsupported_media_type",
  },
  { name: "PATCH no Content-Type", method: "PATCH", headers: { ...TUS, "Upload-Offset": "0" }, status: 415, code: "unsupported_media_type" },
  {
    name: "PATCH with Upload-Length (declaring a deferred length)",
    method: "PATCH",
    headers: { ...TUS, ...OCTETS, "Upload-Offset": "0", "Upload-Length": "10" },
    body: "abc",
    status: 422,
    code: "upload_length_required",
  },
  { name: "PATCH more bytes than the length", method: "PATCH", headers: { ...TUS, ...OCTETS, "Upload-Offset": "0" }, body: "0123456789abc", status: 413, code: "limit_exceeded" },
  {
    name: "PATCH Tus-Resumable another version",
    method: "PATCH",
    headers: { "Tus-Resumable": "0.2.2", ...OCTETS, "Upload-Offset": "0" },
    body: "abc",
    status: 412,
    code: "tus_version_unsupported",
  },
  { name: "DELETE Tus-Resumable missing", method: "DELETE", headers: {}, status: 412, code: "tus_version_unsupported" },
];

describe.each(DATABASES)("tus refusals (%s)", (kind) => {
  let t: TestServer;
  let token: string;
  let log: LogCapture;

  beforeAll(async () => {
    log = new LogCapture();
    t = await startTestServer(kind, { logStream: log });
    token = (await t.createUser()).token;
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each(CREATION)("creation: $name → $status $code, nothing kept", async (c) => {
    const pkg = await createPackage(t, token);
    const before = log.errors().length;
    const res = await fetch(`${t.api}/packages/${pkg.id}/uploads`, { method: c.method, headers: { ...c.headers, Authorization: `Bearer ${token}` } });
    await expectError(res, c.status, c.code);
    expect(log.errors().slice(before)).toEqual([]);
    expect(await t.running.services.db("uploads").where({ package_id: pkg.id }).first("id")).toBeUndefined();
  });

  it.each(ON_UPLOAD)("upload: $name → $status $code, the offset unchanged", async (c) => {
    const pkg = await createPackage(t, token);
    const created = await fetch(`${t.api}/packages/${pkg.id}/uploads`, {
      method: "POST",
      headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Length": "10", "Upload-Metadata": META },
    });
    expect(created.status).toBe(201);
    const location = `${t.url}${created.headers.get("location")}`;
    const before = log.errors().length;
    const res = await fetch(location, { method: c.method, headers: { ...c.headers, Authorization: `Bearer ${token}` }, ...(c.body !== undefined ? { body: c.body } : {}) });
    await expectError(res, c.status, c.code);
    expect(log.errors().slice(before)).toEqual([]);
    const head = await fetch(location, { method: "HEAD", headers: { ...TUS, Authorization: `Bearer ${token}` } });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("upload-offset"))).toBeLessThanOrEqual(c.status === 413 ? 10 : 0);
  });
});
