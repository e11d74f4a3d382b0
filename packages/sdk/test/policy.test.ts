// The admin policy through the SDK against the real server: admin.policy and me.policy(), and
// send() / request() refusing what the policy forbids before anything is created or uploaded,
// or the server refusing it (with the same rule and limit) when the check is off.
import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import {
  AuthenticationError,
  generateIdentity,
  PermissionError,
  PolicyViolationError,
  SpeedyFiles,
  ValidationError,
  type PolicyUpdateRequest,
  type SendOptions,
} from "../src/index.js";
import { bytes, tmpDir } from "./helpers/tmp.js";

async function packagesOf(sf: SpeedyFiles) {
  const out = [];
  for await (const p of sf.packages.iterate()) out.push(p);
  return out;
}

/** The error a promise rejects with (fails the test when it resolves). */
async function refusal(p: Promise<unknown>): Promise<PolicyViolationError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a refusal").toBeInstanceOf(PolicyViolationError);
  return err as PolicyViolationError;
}

describe.each(DATABASES)("the admin policy through the SDK (%s)", (kind) => {
  let t: TestServer;
  let admin: SpeedyFiles;
  let dir: string;
  let small: string;
  let big: string;

  beforeAll(async () => {
    t = await startTestServer(kind);
    admin = new SpeedyFiles({ baseUrl: t.url, token: (await t.createUser({ role: "admin" })).token });
    dir = await tmpDir();
    small = path.join(dir, "small.txt");
    big = path.join(dir, "big.iso");
    await fs.writeFile(small, bytes(500));
    await fs.writeFile(big, bytes(3000, 2));
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await admin.admin.policy.clear();
  });

  async function user(): Promise<SpeedyFiles> {
    return new SpeedyFiles({ baseUrl: t.url, token: (await t.createUser()).token });
  }
  const setPolicy = (body: PolicyUpdateRequest) => admin.admin.policy.put(body);

  it("admin.policy: put, get, update (only the rules named), role overrides, clear; me.policy() applies the caller's role", async () => {
    const empty = await admin.admin.policy.get();
    expect(empty.rules).toMatchObject({ max_ttl_days: null, require_encryption: false, quota_bytes_per_user: null });

    const put = await setPolicy({
      max_ttl_days: 30,
      allowed_recipient_domains: ["acme.com", "*.acme.com"],
      quota_bytes_per_user: 50 * 1024 ** 3,
      roles: { admin: { quota_bytes_per_user: null } },
    });
    expect(put.rules).toMatchObject({ max_ttl_days: 30, allowed_recipient_domains: ["acme.com", "*.acme.com"], quota_bytes_per_user: 50 * 1024 ** 3 });
    expect(put.roles.admin).toEqual({ quota_bytes_per_user: null });
    expect(put.updated_by).toMatch(/@example\.com$/);

    const updated = await admin.admin.policy.update({ require_encryption: true, max_ttl_days: null, roles: { user: { max_file_bytes: 1000 } } });
    expect(updated.rules).toMatchObject({
      max_ttl_days: null,
      require_encryption: true,
      allowed_recipient_domains: ["acme.com", "*.acme.com"],
      quota_bytes_per_user: 50 * 1024 ** 3,
    });
    expect(updated.roles).toEqual({ user: { max_file_bytes: 1000 }, admin: { quota_bytes_per_user: null } });
    expect(await admin.admin.policy.get()).toEqual(updated);

    const u = await user();
    expect(await u.me.policy()).toEqual({ rules: { ...updated.rules, max_file_bytes: 1000 }, quota_used_bytes: 0 });
    expect((await admin.me.policy()).rules).toMatchObject({ quota_bytes_per_user: null, max_file_bytes: null, require_encryption: true });

    const inherited = await admin.admin.policy.update({ roles: { admin: { quota_bytes_per_user: "inherit" } } });
    expect(inherited.roles).toEqual({ user: { max_file_bytes: 1000 }, admin: {} });

    const cleared = await admin.admin.policy.clear();
    expect(cleared.rules).toMatchObject({ require_encryption: false, allowed_recipient_domains: null, quota_bytes_per_user: null });
    expect(cleared.roles).toEqual({ user: {}, admin: {} });
    // sf.me() still answers the user, as before.
    expect((await u.me()).role).toBe("user");
  });

  it("refuses a user (403), a bad token (401) and contradicting or malformed rules (422), changing nothing", async () => {
    await setPolicy({ max_recipients: 5 });
    const u = await user();
    await expect(u.admin.policy.get()).rejects.toBeInstanceOf(PermissionError);
    await expect(u.admin.policy.put({})).rejects.toBeInstanceOf(PermissionError);
    const stranger = new SpeedyFiles({ baseUrl: t.url, token: `sf_${"x".repeat(43)}`, retryWindowMs: 0 });
    await expect(stranger.admin.policy.get()).rejects.toBeInstanceOf(AuthenticationError);
    await expect(stranger.me.policy()).rejects.toBeInstanceOf(AuthenticationError);

    const contradiction = await admin.admin.policy.put({ min_ttl_days: 10, max_ttl_days: 3 }).catch((e: unknown) => e);
    expect(contradiction).toBeInstanceOf(ValidationError);
    expect(contradiction).not.toBeInstanceOf(PolicyViolationError);
    await expect(admin.admin.policy.put({ allowed_recipient_domains: ["acme.com"], blocked_recipient_domains: ["acme.com"] })).rejects.toBeInstanceOf(ValidationError);
    await expect(admin.admin.policy.put({ max_recipients: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(admin.admin.policy.put({ allowed_recipient_domains: ["not a domain"] })).rejects.toBeInstanceOf(ValidationError);
    await expect(admin.admin.policy.put({ quota: 5 } as PolicyUpdateRequest)).rejects.toBeInstanceOf(ValidationError);
    expect((await admin.admin.policy.get()).rules).toMatchObject({ max_recipients: 5, min_ttl_days: null, allowed_recipient_domains: null });
  });

  // Each rule broken alone: the options that break it, the rule and limit named, the words.
  const cases: { name: string; policy: PolicyUpdateRequest; send: () => Partial<SendOptions>; rule: string; limit: unknown; words: RegExp; code?: string }[] = [
    {
      name: "a file over max_file_bytes",
      policy: { max_file_bytes: 2000 },
      send: () => ({ files: [small, big] }),
      rule: "max_file_bytes",
      limit: 2000,
      words: /^big\.iso is 2\.9 KiB; this server takes files up to 2 kB \(admin policy\)$/,
    },
    {
      name: "files past the quota",
      policy: { quota_bytes_per_user: 3000 },
      send: () => ({ files: [small, big] }),
      rule: "quota_bytes_per_user",
      limit: 3000,
      code: "quota_exceeded",
      words: /^these 2 files \(3\.4 KiB\) would take you past your storage quota of 3 kB: 0 B used, 2\.9 KiB left \(admin policy\)$/,
    },
    {
      name: "a recipient outside the allowed domains",
      policy: { allowed_recipient_domains: ["acme.com", "*.acme.com"] },
      send: () => ({ to: ["cfo@eu.acme.com", "bob@gmail.com"] }),
      rule: "allowed_recipient_domains",
      limit: ["acme.com", "*.acme.com"],
      words: /^bob@gmail\.com is at gmail\.com; this server sends only to recipients at acme\.com or \*\.acme\.com \(admin policy\)$/,
    },
    {
      name: "a recipient at a blocked domain",
      policy: { blocked_recipient_domains: ["gmail.com"] },
      send: () => ({ to: "Bob@GMail.com" }),
      rule: "blocked_recipient_domains",
      limit: ["gmail.com"],
      words: /^Bob@GMail\.com is at gmail\.com; this server does not send to recipients at gmail\.com \(admin policy\)$/,
    },
    {
      name: "too many recipients",
      policy: { max_recipients: 2 },
      send: () => ({ to: ["a@acme.com", "b@acme.com", "c@acme.com"] }),
      rule: "max_recipients",
      limit: 2,
      words: /^3 recipients; this server takes at most 2 recipients per package \(admin policy\)$/,
    },
    {
      name: "a TTL over max_ttl_days",
      policy: { max_ttl_days: 3 },
      send: () => ({ ttl_days: 10 }),
      rule: "max_ttl_days",
      limit: 3,
      words: /^a link valid for 10 days; this server keeps links at most 3 days \(admin policy\)$/,
    },
    {
      name: "a TTL under min_ttl_days",
      policy: { min_ttl_days: 5 },
      send: () => ({ ttl_days: 2 }),
      rule: "min_ttl_days",
      limit: 5,
      words: /^a link valid for 2 days; this server keeps links at least 5 days \(admin policy\)$/,
    },
    {
      name: "no password where one is required",
      policy: { require_password: true },
      send: () => ({}),
      rule: "require_password",
      limit: true,
      words: /^this package has no link password; this server requires a link password on every package it sends \(admin policy\)$/,
    },
    {
      name: "no encryption where it is required",
      policy: { require_encryption: true },
      send: () => ({}),
      rule: "require_encryption",
      limit: true,
      words: /^these files would not be encrypted; this server requires end-to-end encryption on every package \(admin policy\)$/,
    },
  ];

  it.each(cases)("send() refuses $name before creating anything, in words", async (c) => {
    await setPolicy(c.policy);
    const u = await user();
    const err = await refusal(u.send({ files: [small], to: "cfo@acme.com", ...c.send() }));
    expect(err).toMatchObject({ status: 422, code: c.code ?? "policy_violation", rule: c.rule, limit: c.limit, refusedBy: "client" });
    expect(err.message).toMatch(c.words);
    expect(await packagesOf(u)).toEqual([]);
    expect((await u.me.policy()).quota_used_bytes).toBe(0);
  });

  it.each(cases)("with checkPolicy: false the server refuses $name with the same rule and limit; nothing is left", async (c) => {
    await setPolicy(c.policy);
    const u = await user();
    const err = await refusal(u.send({ files: [small], to: "cfo@acme.com", ...c.send(), checkPolicy: false }));
    expect(err).toMatchObject({ status: 422, code: c.code ?? "policy_violation", rule: c.rule, limit: c.limit, refusedBy: "server" });
    expect(err.detail.length).toBeGreaterThan(10);
    // The draft send() made (when the refusal came at an upload) was deleted.
    expect(await packagesOf(u)).toEqual([]);
    expect((await u.me.policy()).quota_used_bytes).toBe(0);
  });

  it("within every rule: sent; the default TTL moves into the policy's range; quota use shows", async () => {
    await setPolicy({
      max_ttl_days: 3,
      require_password: true,
      require_encryption: true,
      allowed_recipient_domains: ["acme.com", "*.acme.com"],
      blocked_recipient_domains: ["spam.acme.com"],
      max_file_bytes: 5000,
      max_recipients: 2,
      quota_bytes_per_user: 20_000,
    });
    const u = await user();
    const r = await u.send({ files: [small, big], to: ["cfo@acme.com", "ops@eu.acme.com"], password: "correct horse battery", encrypt: true });
    expect(r.package).toMatchObject({ status: "active", ttl_days: 3, file_count: 2 });
    const used = (await u.me.policy()).quota_used_bytes;
    expect(used).toBe(r.package.files.reduce((n, f) => n + f.size, 0));
    expect(used).toBeGreaterThan(3500);

    // What is left of the quota is what the next check counts against.
    await admin.admin.policy.update({ quota_bytes_per_user: used + 1000 });
    const err = await refusal(u.send({ files: [small, big], to: "cfo@acme.com", password: "correct horse battery", encrypt: true }));
    expect(err).toMatchObject({ code: "quota_exceeded", refusedBy: "client" });
    expect(err.detail).toContain(`storage quota of`);
  });

  it("an upload to a draft past the quota: quota_exceeded from the server before its bytes are kept", async () => {
    await setPolicy({ quota_bytes_per_user: 2000 });
    const u = await user();
    const draft = await u.packages.create({ title: "t", recipient_email: "cfo@acme.com", direction: "outbound", ttl_days: 3 });
    await u.uploadFile(draft.id, bytes(1500), { name: "a.bin" });
    const err = await refusal(u.uploadFile(draft.id, bytes(1000), { name: "b.bin" }));
    expect(err).toMatchObject({ status: 422, code: "quota_exceeded", rule: "quota_bytes_per_user", limit: 2000, refusedBy: "server" });
    expect((await u.packages.get(draft.id)).files.map((f) => f.name)).toEqual(["a.bin"]);
    expect((await u.me.policy()).quota_used_bytes).toBe(1500);
  });

  it("request() refuses a domain, no encryption and a TTL out of range before creating anything", async () => {
    const u = await user();
    await setPolicy({ allowed_recipient_domains: ["acme.com"] });
    expect(await refusal(u.request({ from: "someone@gmail.com" }))).toMatchObject({ rule: "allowed_recipient_domains", refusedBy: "client" });
    await setPolicy({ require_encryption: true, max_ttl_days: 5 });
    const enc = await refusal(u.request({ from: "someone@acme.com" }));
    expect(enc).toMatchObject({ rule: "require_encryption", refusedBy: "client" });
    expect(enc.detail).toMatch(/^this request is not encrypted; /);
    const { recipient } = await generateIdentity();
    expect(await refusal(u.request({ from: "someone@acme.com", encrypt: { recipient }, ttl_days: 9 }))).toMatchObject({ rule: "max_ttl_days", limit: 5 });
    expect(await packagesOf(u)).toEqual([]);
    // The server says the same.
    expect(await refusal(u.request({ from: "someone@acme.com", ttl_days: 5, checkPolicy: false }))).toMatchObject({ rule: "require_encryption", refusedBy: "server" });
    // Within the rules, with the default TTL moved under the maximum.
    const ok = await u.request({ from: "someone@acme.com", encrypt: { recipient } });
    expect(ok.package).toMatchObject({ direction: "inbound", ttl_days: 5 });
  });
});
