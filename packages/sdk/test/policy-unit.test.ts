// The policy's pure parts: sizes in words, the check send() runs before it uploads, the merge
// admin.policy.update() does, and the error an answer becomes.
import { describe, expect, it } from "vitest";
import {
  defaultTtl,
  domainListed,
  formatBytes,
  mergePolicy,
  parseBytes,
  policyRefusal,
  policyRuleInWords,
  PolicyViolationError,
  ValidationError,
  type EffectivePolicy,
  type EffectiveRules,
  type PackagePlan,
  type Policy,
} from "../src/index.js";
import { apiErrorFrom } from "../src/errors.js";

const GiB = 1024 ** 3;
const NO_RULES: EffectiveRules = {
  min_ttl_days: null,
  max_ttl_days: null,
  require_password: false,
  require_encryption: false,
  allowed_recipient_domains: null,
  blocked_recipient_domains: null,
  max_file_bytes: null,
  max_recipients: null,
  quota_bytes_per_user: null,
};
const WHERE = { method: "POST", url: "https://files.example.com/api/v1/packages" };

function plan(p: Partial<PackagePlan> = {}): PackagePlan {
  return { direction: "outbound", recipients: ["cfo@acme.com"], ttl_days: 7, password: false, encrypted: false, files: [{ name: "a.pdf", size: 1000 }], countQuota: true, ...p };
}
function policy(rules: Partial<EffectiveRules>, used = 0): EffectivePolicy {
  return { rules: { ...NO_RULES, ...rules }, quota_used_bytes: used };
}

describe("sizes", () => {
  it("parseBytes reads IEC and SI units, bare bytes, decimals; refuses the rest", () => {
    expect(parseBytes("2GiB")).toBe(2 * GiB);
    expect(parseBytes("2 gib")).toBe(2 * GiB);
    expect(parseBytes("50G")).toBe(50 * GiB);
    expect(parseBytes("1.5GiB")).toBe(1.5 * GiB);
    expect(parseBytes("500MB")).toBe(500_000_000);
    expect(parseBytes("1kB")).toBe(1000);
    expect(parseBytes("1048576")).toBe(1048576);
    for (const bad of ["", "GiB", "-1GiB", "2 GB/s", "1e9", "two", "2XiB", "99999999999TiB"]) expect(parseBytes(bad), bad).toBeUndefined();
  });

  it("formatBytes: one decimal below 100, exact drops .0 for limits", () => {
    expect(formatBytes(4.3 * GiB)).toBe("4.3 GiB");
    expect(formatBytes(2 * GiB)).toBe("2.0 GiB");
    expect(formatBytes(2 * GiB, { exact: true })).toBe("2 GiB");
    expect(formatBytes(1.5 * GiB, { exact: true })).toBe("1.5 GiB");
    expect(formatBytes(150 * 1024 * 1024)).toBe("150 MiB");
    expect(formatBytes(512)).toBe("512 B");
    // Exact: never a rounded limit (2000 B is not 2 KiB).
    expect(formatBytes(2000, { exact: true })).toBe("2 kB");
    expect(formatBytes(500_000_000, { exact: true })).toBe("500 MB");
    expect(formatBytes(1536, { exact: true })).toBe("1.5 KiB");
    expect(formatBytes(1234, { exact: true })).toBe("1234 B");
    expect(formatBytes(1_234_567_891, { exact: true })).toBe("1.1 GiB");
  });
});

describe("domains", () => {
  it("acme.com matches that domain only, *.acme.com its subdomains only, case-insensitively", () => {
    expect(domainListed("acme.com", ["acme.com"])).toBe(true);
    expect(domainListed("ACME.com", ["acme.COM"])).toBe(true);
    expect(domainListed("eu.acme.com", ["acme.com"])).toBe(false);
    expect(domainListed("eu.acme.com", ["*.acme.com"])).toBe(true);
    expect(domainListed("a.b.acme.com", ["*.acme.com"])).toBe(true);
    expect(domainListed("acme.com", ["*.acme.com"])).toBe(false);
    expect(domainListed("notacme.com", ["*.acme.com", "acme.com"])).toBe(false);
  });
});

describe("defaultTtl", () => {
  it("7 days, moved into the policy's range", () => {
    expect(defaultTtl(undefined)).toBe(7);
    expect(defaultTtl(NO_RULES)).toBe(7);
    expect(defaultTtl({ ...NO_RULES, max_ttl_days: 3 })).toBe(3);
    expect(defaultTtl({ ...NO_RULES, min_ttl_days: 14 })).toBe(14);
    expect(defaultTtl({ ...NO_RULES, min_ttl_days: 2, max_ttl_days: 30 })).toBe(7);
  });
});

describe("policyRefusal: what send() refuses before a byte goes up", () => {
  const refused = (p: EffectivePolicy, pl: PackagePlan) => policyRefusal(p, pl, WHERE);

  it("nothing within the rules", () => {
    const p = policy({
      min_ttl_days: 1,
      max_ttl_days: 30,
      require_password: true,
      require_encryption: true,
      allowed_recipient_domains: ["acme.com", "*.acme.com"],
      blocked_recipient_domains: ["bad.acme.com"],
      max_file_bytes: 2 * GiB,
      max_recipients: 2,
      quota_bytes_per_user: 10 * GiB,
    });
    expect(refused(p, plan({ password: true, encrypted: true, recipients: ["a@acme.com", "b@eu.acme.com"], ttl_days: 30, files: [{ name: "x", size: 2 * GiB }] }))).toBeUndefined();
    expect(refused(policy({}), plan())).toBeUndefined();
  });

  it("each rule, in words, with rule, limit and the error's fields", () => {
    const file = refused(
      policy({ max_file_bytes: 2 * GiB }),
      plan({
        files: [
          { name: "ok.txt", size: 10 },
          { name: "big.iso", size: 4.3 * GiB },
        ],
      }),
    )!;
    expect(file).toBeInstanceOf(PolicyViolationError);
    expect(file).toBeInstanceOf(ValidationError);
    expect(file).toMatchObject({ status: 422, code: "policy_violation", rule: "max_file_bytes", limit: 2 * GiB, refusedBy: "client", file: "big.iso", method: "POST" });
    expect(file.message).toBe("big.iso is 4.3 GiB; this server takes files up to 2 GiB (admin policy)");
    expect(file.detail).toBe(file.message);

    const quota = refused(
      policy({ quota_bytes_per_user: 50 * GiB }, 48 * GiB),
      plan({
        files: [
          { name: "a.bin", size: 1 * GiB },
          { name: "b.bin", size: 2 * GiB },
        ],
      }),
    )!;
    expect(quota).toMatchObject({ code: "quota_exceeded", rule: "quota_bytes_per_user", limit: 50 * GiB });
    expect(quota.detail).toBe("these 2 files (3.0 GiB) would take you past your storage quota of 50 GiB: 48.0 GiB used, 2.0 GiB left (admin policy)");
    // A resumed draft or a rerun: the server already counts what it holds.
    expect(refused(policy({ quota_bytes_per_user: 50 * GiB }, 48 * GiB), plan({ files: [{ name: "a", size: 3 * GiB }], countQuota: false }))).toBeUndefined();

    const allowed = refused(policy({ allowed_recipient_domains: ["acme.com", "*.acme.com"] }), plan({ recipients: ["cfo@acme.com", "bob@Gmail.com"] }))!;
    expect(allowed).toMatchObject({ rule: "allowed_recipient_domains", limit: ["acme.com", "*.acme.com"], recipient: "bob@Gmail.com" });
    expect(allowed.detail).toBe("bob@Gmail.com is at gmail.com; this server sends only to recipients at acme.com or *.acme.com (admin policy)");

    const blocked = refused(policy({ blocked_recipient_domains: ["gmail.com", "*.example.org"] }), plan({ recipients: ["x@eu.example.org"] }))!;
    expect(blocked).toMatchObject({ rule: "blocked_recipient_domains", recipient: "x@eu.example.org" });
    expect(blocked.detail).toBe("x@eu.example.org is at eu.example.org; this server does not send to recipients at *.example.org (admin policy)");

    const many = refused(policy({ max_recipients: 2 }), plan({ recipients: ["a@x.io", "b@x.io", "c@x.io"] }))!;
    expect(many).toMatchObject({ rule: "max_recipients", limit: 2 });
    expect(many.detail).toBe("3 recipients; this server takes at most 2 recipients per package (admin policy)");

    expect(refused(policy({ max_ttl_days: 30 }), plan({ ttl_days: 60 }))!.detail).toBe("a link valid for 60 days; this server keeps links at most 30 days (admin policy)");
    expect(refused(policy({ min_ttl_days: 3 }), plan({ ttl_days: 1 }))!.detail).toBe("a link valid for 1 day; this server keeps links at least 3 days (admin policy)");

    const pw = refused(policy({ require_password: true }), plan())!;
    expect(pw).toMatchObject({ rule: "require_password", limit: true });
    expect(pw.detail).toBe("this package has no link password; this server requires a link password on every package it sends (admin policy)");
    // Inbound packages need no link password.
    expect(refused(policy({ require_password: true }), plan({ direction: "inbound", files: [] }))).toBeUndefined();

    const enc = refused(policy({ require_encryption: true }), plan())!;
    expect(enc).toMatchObject({ rule: "require_encryption", limit: true });
    expect(enc.detail).toBe("these files would not be encrypted; this server requires end-to-end encryption on every package (admin policy)");
    expect(refused(policy({ require_encryption: true }), plan({ direction: "inbound", files: [] }))!.detail).toMatch(/^this request is not encrypted;/);
  });

  it("a stream of unknown size is left to the server", () => {
    expect(refused(policy({ max_file_bytes: 10, quota_bytes_per_user: 10 }), plan({ files: [{ name: "stdin", size: undefined }] }))).toBeUndefined();
  });
});

describe("mergePolicy: admin.policy.update() changes only what it names", () => {
  const current: Policy = {
    rules: { ...NO_RULES, max_ttl_days: 30, require_encryption: true, quota_bytes_per_user: 50 * GiB },
    roles: { user: {}, admin: { quota_bytes_per_user: null, max_file_bytes: 10 * GiB } },
    updated_at: "2026-12-01T10:00:00.000Z",
    updated_by: "root@example.com",
  };

  it("instance rules replaced or removed (null); role overrides set, set to no rule, or inherited again", () => {
    const body = mergePolicy(current, { max_ttl_days: 14, require_encryption: null, roles: { user: { max_recipients: 5 }, admin: { max_file_bytes: "inherit" } } });
    expect(body).toEqual({
      ...NO_RULES,
      max_ttl_days: 14,
      require_encryption: null,
      quota_bytes_per_user: 50 * GiB,
      roles: { user: { max_recipients: 5 }, admin: { quota_bytes_per_user: null } },
    });
    // Everything inherited: no roles at all.
    expect(mergePolicy(current, { roles: { admin: { quota_bytes_per_user: "inherit", max_file_bytes: "inherit" } } }).roles).toBeUndefined();
  });

  it("keeps a rule this SDK does not know (a newer server's)", () => {
    const newer = { ...current, rules: { ...current.rules, max_files: 100 } as EffectiveRules };
    expect(mergePolicy(newer, { max_ttl_days: 10 })).toMatchObject({ max_files: 100, max_ttl_days: 10 });
  });
});

describe("a refusal from the server", () => {
  const meta = { method: "post", url: "https://files.example.com/api/v1/packages/x/files", headers: new Headers({ "x-request-id": "req-1" }) };

  it("422 policy_violation / quota_exceeded become PolicyViolationError with rule and limit", () => {
    const err = apiErrorFrom(422, { detail: "Files can be at most 2.0 GiB on this server", code: "policy_violation", rule: "max_file_bytes", limit: 2 * GiB }, meta);
    expect(err).toBeInstanceOf(PolicyViolationError);
    expect(err).toMatchObject({ status: 422, code: "policy_violation", rule: "max_file_bytes", limit: 2 * GiB, refusedBy: "server", requestId: "req-1" });
    expect(err.message).toBe("POST https://files.example.com/api/v1/packages/x/files → 422: Files can be at most 2.0 GiB on this server");
    const quota = apiErrorFrom(422, { detail: "full", code: "quota_exceeded", rule: "quota_bytes_per_user", limit: 5 }, meta);
    expect(quota).toMatchObject({ code: "quota_exceeded", rule: "quota_bytes_per_user", limit: 5 });
    const domains = apiErrorFrom(422, { detail: "no", code: "policy_violation", rule: "allowed_recipient_domains", limit: ["acme.com"] }, meta) as PolicyViolationError;
    expect(domains.limit).toEqual(["acme.com"]);
  });

  it("other 422s stay ValidationError; a limit of an unknown shape is left out", () => {
    expect(apiErrorFrom(422, { detail: "bad", code: "validation_failed" }, meta)).not.toBeInstanceOf(PolicyViolationError);
    const odd = apiErrorFrom(422, { detail: "no", code: "policy_violation", rule: "max_recipients", limit: { n: 1 } }, meta) as PolicyViolationError;
    expect(odd).toBeInstanceOf(PolicyViolationError);
    expect("limit" in odd).toBe(false);
  });
});

describe("policyRuleInWords", () => {
  it("says every rule and its value", () => {
    expect(policyRuleInWords("max_file_bytes", 2 * GiB)).toBe("this server takes files up to 2 GiB");
    expect(policyRuleInWords("quota_bytes_per_user", 50 * GiB)).toBe("this server lets each user hold up to 50 GiB in draft and active packages");
    expect(policyRuleInWords("min_ttl_days", 1)).toBe("this server keeps links at least 1 day");
    expect(policyRuleInWords("max_ttl_days", 30)).toBe("this server keeps links at most 30 days");
    expect(policyRuleInWords("max_recipients", 10)).toBe("this server takes at most 10 recipients per package");
    expect(policyRuleInWords("require_password", true)).toBe("this server requires a link password on every package it sends");
    expect(policyRuleInWords("require_encryption", true)).toBe("this server requires end-to-end encryption on every package");
    expect(policyRuleInWords("allowed_recipient_domains", ["a.com", "b.com", "*.c.com"])).toBe("this server sends only to recipients at a.com, b.com or *.c.com");
    expect(policyRuleInWords("blocked_recipient_domains", ["gmail.com"])).toBe("this server does not send to recipients at gmail.com");
    expect(policyRuleInWords("max_file_bytes", undefined)).toBe("this server limits the size of a file");
  });
});
