// The policy's pure parts: domain matching, contradictions, role overrides, the form's sizes.
import { describe, expect, it } from "vitest";
import { domainMatches, EMPTY_POLICY, effectiveRules, NO_RULES, policyProblems, type InstancePolicy } from "../src/policies/instance-rules.js";
import { parseSize } from "../src/routes/web-policy-form.js";
import { ttlWords } from "../src/util/policy-words.js";

const policy = (rules: Partial<typeof NO_RULES>, roles: InstancePolicy["roles"] = { user: {}, admin: {} }): InstancePolicy => ({
  ...EMPTY_POLICY,
  rules: { ...NO_RULES, ...rules },
  roles,
});

describe("the instance's rules", () => {
  it("matches acme.com exactly and *.acme.com on its subdomains only", () => {
    expect(domainMatches("acme.com", "acme.com")).toBe(true);
    expect(domainMatches("eu.acme.com", "acme.com")).toBe(false);
    expect(domainMatches("eu.acme.com", "*.acme.com")).toBe(true);
    expect(domainMatches("a.b.acme.com", "*.acme.com")).toBe(true);
    expect(domainMatches("acme.com", "*.acme.com")).toBe(false);
    expect(domainMatches("evilacme.com", "*.acme.com")).toBe(false);
    expect(domainMatches("xn--bcher-kva.example", "xn--bcher-kva.example")).toBe(true);
  });

  it("finds contradictions, for everyone and once a role's overrides apply", () => {
    expect(policyProblems(policy({ min_ttl_days: 3, max_ttl_days: 30 }), 365)).toEqual([]);
    expect(policyProblems(policy({ min_ttl_days: 31, max_ttl_days: 30 }), 365).map((e) => e.path)).toEqual(["/body/min_ttl_days"]);
    expect(policyProblems(policy({ min_ttl_days: 20 }), 14).map((e) => e.path)).toEqual(["/body/min_ttl_days"]);
    const covered = (allowed: string[], blocked: string[]) => policyProblems(policy({ allowed_recipient_domains: allowed, blocked_recipient_domains: blocked }), 365).length;
    expect(covered(["acme.com"], ["acme.com"])).toBe(1);
    expect(covered(["acme.com"], ["*.com"])).toBe(1);
    expect(covered(["*.acme.com"], ["*.acme.com"])).toBe(1);
    expect(covered(["*.acme.com"], ["*.com"])).toBe(1);
    expect(covered(["acme.com"], ["*.acme.com"])).toBe(0);
    expect(covered(["*.acme.com"], ["eu.acme.com"])).toBe(0);
    expect(covered(["acme.com"], ["example.com"])).toBe(0);
    // A role's own problem is reported at its override; the instance's once.
    const p = policy({ max_ttl_days: 10, min_ttl_days: 20 }, { user: { max_ttl_days: 30 }, admin: {} });
    expect(policyProblems(p, 365).map((e) => e.path)).toEqual(["/body/min_ttl_days"]);
    const q = policy({ max_ttl_days: 10 }, { user: { min_ttl_days: 11 }, admin: {} });
    expect(policyProblems(q, 365).map((e) => e.path)).toEqual(["/body/roles/user/min_ttl_days"]);
  });

  it("a role's override replaces the instance's rule, null included", () => {
    const p = policy({ max_ttl_days: 7, quota_bytes_per_user: 100, require_password: true }, { user: {}, admin: { quota_bytes_per_user: null, require_password: false } });
    expect(effectiveRules(p, "user")).toMatchObject({ max_ttl_days: 7, quota_bytes_per_user: 100, require_password: true });
    expect(effectiveRules(p, "admin")).toMatchObject({ max_ttl_days: 7, quota_bytes_per_user: null, require_password: false });
  });

  it("reads sizes the way admins write them, and says lifetimes in words", () => {
    expect(parseSize("2 GiB", 1)).toBe(2 * 1024 ** 3);
    expect(parseSize("1.5GiB", 1)).toBe(1.5 * 1024 ** 3);
    expect(parseSize("500 MB", 1)).toBe(500e6);
    expect(parseSize("1000", 1)).toBe(1000);
    expect(parseSize("0", 0)).toBe(0);
    for (const bad of ["lots", "-1", "2 GB GB", "1e9", "0"]) expect(() => parseSize(bad, 1), bad).toThrow();
    expect(ttlWords(null, 30)).toBe("Links can live at most 30 days");
    expect(ttlWords(1, null)).toBe("Links must live at least 1 day");
    expect(ttlWords(3, 30)).toBe("Links live from 3 days to 30 days");
    expect(ttlWords(null, null)).toBeNull();
  });
});
