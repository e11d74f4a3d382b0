import { formatBytes } from "../bytes.js";
import { PolicyViolationError, type PolicyViolationCode } from "../errors.js";
import type { EffectivePolicy, EffectiveRules, PolicyLimit, PolicyRuleName } from "../types.js";
import { daysInWords as days, domainsInWords, policyRuleInWords } from "./words.js";

/** What a new package would be, as far as the policy is concerned. */
export interface PackagePlan {
  direction: "outbound" | "inbound";
  recipients: string[];
  ttl_days: number;
  password: boolean;
  encrypted: boolean;
  /**
   * Files with the bytes each will be stored as (at least: an encrypted file's ciphertext is a
   * little more than its plaintext); size undefined when unknown (a stream).
   */
  files: { name: string; size: number | undefined }[];
  /** Whether the files' bytes would be new to the quota (false when resuming a draft, or rerunning a send). */
  countQuota: boolean;
}

/** Where a refusal before any request would have gone (the error names a request, as the server's does). */
export interface RefusalContext {
  method: string;
  url: string;
}

/** `alice@Mail.Acme.com` → `mail.acme.com`. */
function domainOf(email: string): string {
  return email.slice(email.lastIndexOf("@") + 1).toLowerCase();
}

/**
 * Whether a domain is on a list of the policy's: `acme.com` matches that domain only, `*.acme.com`
 * its subdomains only (`eu.acme.com`, not `acme.com`); case-insensitive.
 */
export function domainListed(domain: string, list: readonly string[]): boolean {
  const d = domain.toLowerCase();
  return list.some((entry) => {
    const e = entry.toLowerCase();
    return e.startsWith("*.") ? d.endsWith(e.slice(1)) && d.length > e.length - 1 : d === e;
  });
}

/**
 * A link lifetime within the policy, for a package whose caller gave none: `fallback` (7 days)
 * moved into `[min_ttl_days, max_ttl_days]`.
 */
export function defaultTtl(rules: EffectiveRules | undefined, fallback = 7): number {
  let ttl = fallback;
  if (rules?.max_ttl_days != null) ttl = Math.min(ttl, rules.max_ttl_days);
  if (rules?.min_ttl_days != null) ttl = Math.max(ttl, rules.min_ttl_days);
  return ttl;
}

/**
 * The first rule of the caller's effective policy the package would break, as the error the
 * server would answer (with `refusedBy: "client"` and the reason in words), or undefined. The
 * server stays the authority: this only spares the upload of what it would refuse.
 */
export function policyRefusal(policy: EffectivePolicy, plan: PackagePlan, where: RefusalContext): PolicyViolationError | undefined {
  const r = policy.rules;
  const refuse = (rule: PolicyRuleName, limit: PolicyLimit, what: string, extra: { file?: string; recipient?: string; code?: PolicyViolationCode } = {}) =>
    new PolicyViolationError({
      status: 422,
      code: extra.code ?? "policy_violation",
      detail: `${what} (admin policy)`,
      method: where.method,
      url: where.url,
      rule,
      limit,
      refusedBy: "client",
      file: extra.file,
      recipient: extra.recipient,
    });

  // In the server's order: the first broken rule is the one both would name.
  if (r.max_ttl_days != null && plan.ttl_days > r.max_ttl_days) {
    return refuse("max_ttl_days", r.max_ttl_days, `a link valid for ${days(plan.ttl_days)}; ${policyRuleInWords("max_ttl_days", r.max_ttl_days)}`);
  }
  if (r.min_ttl_days != null && plan.ttl_days < r.min_ttl_days) {
    return refuse("min_ttl_days", r.min_ttl_days, `a link valid for ${days(plan.ttl_days)}; ${policyRuleInWords("min_ttl_days", r.min_ttl_days)}`);
  }
  if (r.max_recipients != null && plan.recipients.length > r.max_recipients) {
    return refuse("max_recipients", r.max_recipients, `${plan.recipients.length} recipients; ${policyRuleInWords("max_recipients", r.max_recipients)}`);
  }
  for (const to of plan.recipients) {
    const domain = domainOf(to);
    if (r.allowed_recipient_domains && !domainListed(domain, r.allowed_recipient_domains)) {
      return refuse(
        "allowed_recipient_domains",
        r.allowed_recipient_domains,
        `${to} is at ${domain}; this server sends only to recipients at ${domainsInWords(r.allowed_recipient_domains)}`,
        { recipient: to },
      );
    }
    if (r.blocked_recipient_domains && domainListed(domain, r.blocked_recipient_domains)) {
      const entry = r.blocked_recipient_domains.find((e) => domainListed(domain, [e]))!;
      return refuse("blocked_recipient_domains", r.blocked_recipient_domains, `${to} is at ${domain}; this server does not send to recipients at ${entry}`, { recipient: to });
    }
  }
  if (r.require_password && plan.direction === "outbound" && !plan.password) {
    return refuse("require_password", true, `this package has no link password; ${policyRuleInWords("require_password", true)}`);
  }
  if (r.require_encryption && !plan.encrypted) {
    const how = plan.direction === "inbound" ? "this request is not encrypted" : "these files would not be encrypted";
    return refuse("require_encryption", true, `${how}; ${policyRuleInWords("require_encryption", true)}`);
  }
  if (r.max_file_bytes != null) {
    const big = plan.files.find((f) => f.size !== undefined && f.size > r.max_file_bytes!);
    if (big) {
      return refuse("max_file_bytes", r.max_file_bytes, `${big.name} is ${formatBytes(big.size!)}; ${policyRuleInWords("max_file_bytes", r.max_file_bytes)}`, { file: big.name });
    }
  }
  if (r.quota_bytes_per_user != null && plan.countQuota) {
    const adding = plan.files.reduce((n, f) => n + (f.size ?? 0), 0);
    const used = policy.quota_used_bytes;
    if (adding > 0 && used + adding > r.quota_bytes_per_user) {
      const left = Math.max(0, r.quota_bytes_per_user - used);
      const these = plan.files.length === 1 ? plan.files[0]!.name : `these ${plan.files.length} files`;
      return refuse(
        "quota_bytes_per_user",
        r.quota_bytes_per_user,
        `${these} (${formatBytes(adding)}) would take you past your storage quota of ${formatBytes(r.quota_bytes_per_user, { exact: true })}: ${formatBytes(used)} used, ${formatBytes(left)} left`,
        { code: "quota_exceeded" },
      );
    }
  }
  return undefined;
}
