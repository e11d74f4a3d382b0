import { formatBytes } from "../bytes.js";
import type { PolicyLimit, PolicyRuleName } from "../types.js";

/** `acme.com`, `acme.com or *.acme.com`, `a.com, b.com or c.com`: a list of domains in a sentence. */
export function domainsInWords(domains: readonly string[]): string {
  if (domains.length === 0) return "no domain";
  if (domains.length === 1) return domains[0]!;
  return `${domains.slice(0, -1).join(", ")} or ${domains.at(-1)}`;
}

/** `1 day`, `30 days`. */
export function daysInWords(n: number): string {
  return n === 1 ? "1 day" : `${n} days`;
}

/**
 * A rule and its value as the end of a sentence about the server: `this server takes files up
 * to 2 GiB`, `this server sends only to acme.com or *.acme.com`. For the rule a refusal names
 * (`PolicyViolationError.rule` and `.limit`), or for showing the limits before anyone hits them.
 */
export function policyRuleInWords(rule: PolicyRuleName, limit: PolicyLimit | null | undefined): string {
  const n = typeof limit === "number" ? limit : undefined;
  const list = Array.isArray(limit) ? limit : undefined;
  switch (rule) {
    case "max_file_bytes":
      return n === undefined ? "this server limits the size of a file" : `this server takes files up to ${formatBytes(n, { exact: true })}`;
    case "quota_bytes_per_user":
      return n === undefined
        ? "this server limits the storage each user holds"
        : `this server lets each user hold up to ${formatBytes(n, { exact: true })} in draft and active packages`;
    case "min_ttl_days":
      return n === undefined ? "this server sets a shortest lifetime for links" : `this server keeps links at least ${daysInWords(n)}`;
    case "max_ttl_days":
      return n === undefined ? "this server sets a longest lifetime for links" : `this server keeps links at most ${daysInWords(n)}`;
    case "max_recipients":
      return n === undefined ? "this server limits the recipients of a package" : `this server takes at most ${n === 1 ? "1 recipient" : `${n} recipients`} per package`;
    case "require_password":
      return "this server requires a link password on every package it sends";
    case "require_encryption":
      return "this server requires end-to-end encryption on every package";
    case "allowed_recipient_domains":
      return list === undefined ? "this server sends only to some domains" : `this server sends only to recipients at ${domainsInWords(list)}`;
    case "blocked_recipient_domains":
      return list === undefined ? "this server does not send to some domains" : `this server does not send to recipients at ${domainsInWords(list)}`;
    default:
      return `this server's policy has a rule ${String(rule)}`;
  }
}
