import fs from "node:fs/promises";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import type { Fuzzer } from "./fuzz/engine.js";
import { fuzzOperation, OPERATIONS, spec } from "./fuzz/runner.js";
import { ResponseChecker } from "./fuzz/spec-check.js";
import { diffSnapshots, snapshot } from "./fuzz/world.js";

// The fuzz suite's own checks (test/fuzz/): each catches what it is there to catch.

const op = (id: string) => OPERATIONS.find((o) => o.operationId === id)!;
const json = { "content-type": "application/json; charset=utf-8" };

describe("the fuzz suite's spec check", () => {
  const checker = new ResponseChecker(spec);
  it("refuses an empty body where the spec declares a JSON one, but not for 204, 304 or HEAD", () => {
    expect(checker.check(op("getMe"), { status: 200, headers: json, body: Buffer.alloc(0) })).toMatch(/empty/);
    expect(checker.check(op("getMe"), { status: 401, headers: {}, body: Buffer.alloc(0) })).toMatch(/empty/);
    const head = OPERATIONS.find((o) => o.method === "HEAD")!;
    expect(checker.check(head, { status: 200, headers: {}, body: Buffer.alloc(0) })).toBeNull();
    const noContent = OPERATIONS.find((o) => "204" in (o.op.responses as object))!;
    expect(checker.check(noContent, { status: 204, headers: {}, body: Buffer.alloc(0) })).toBeNull();
    // A tus creation with bytes still to come answers 201 without the file (the spec says when it has one).
    expect(checker.check(op("createLinkUpload"), { status: 201, headers: {}, body: Buffer.alloc(0) })).toBeNull();
    expect(checker.check(op("createUpload"), { status: 201, headers: {}, body: Buffer.alloc(0) })).toBeNull();
  });
});

describe("the fuzz suite's runner", () => {
  it("says when a run was cut short by its time limit, and how many requests it made", async () => {
    const slow = {
      plan: () => fc.integer(),
      run: async () => {
        await new Promise((r) => setTimeout(r, 50));
        return { problems: [] };
      },
    } as unknown as Fuzzer;
    const r = await fuzzOperation(slow, op("getMe"), 1, 0, 40, 300);
    expect(r.finding).toBeNull();
    expect(r.interrupted).toBe(true);
    expect(r.runs).toBeGreaterThan(0);
    expect(r.runs).toBeLessThan(40);
  });
});

describe("the fuzz suite's 'a refusal changes nothing'", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer("sqlite", { mail: false });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("sees a stored file overwritten with as many bytes", async () => {
    const dir = path.join(t.dataDir, "files", "fuzz-check");
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, "blob");
    await fs.writeFile(file, "aaaa");
    const before = await snapshot(t);
    await new Promise((r) => setTimeout(r, 20));
    await fs.writeFile(file, "bbbb");
    expect(diffSnapshots(before, await snapshot(t))).not.toEqual([]);
  });

  it("sees audit lines other than a refused CI identity's, and lets those through", async () => {
    const db = t.running.services.db;
    const line = (type: string) => ({
      id: crypto.randomUUID(),
      type,
      actor_user_id: null,
      subject_id: null,
      data: "{}",
      client_address: null,
      user_agent: null,
      created_at: new Date().toISOString(),
    });
    let before = await snapshot(t);
    await db("audit_events").insert(line("oidc.refused"));
    expect(diffSnapshots(before, await snapshot(t))).toEqual([]);
    before = await snapshot(t);
    await db("audit_events").insert(line("oidc.exchanged"));
    expect(diffSnapshots(before, await snapshot(t))).not.toEqual([]);
  });
});
