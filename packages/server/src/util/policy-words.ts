import { formatBytes } from "./format-bytes.js";

/**
 * The instance's rules in words, for people: the sentences of the API's refusals and the hints
 * the pages show before a user hits a limit. Shared by policies/ (refusals) and web/ (hints).
 */

/** "acme.com", "any subdomain of acme.com" for `*.acme.com`. */
function domainWords(entry: string): string {
  return entry.startsWith("*.") ? `a subdomain of ${entry.slice(2)}` : entry;
}

/** "a, b or c". */
export function orList(items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}

/** "Recipients must be at acme.com or a subdomain of acme.com". */
export function allowedDomainsWords(domains: string[]): string {
  return `Recipients must be at ${orList(domains.map(domainWords))}`;
}

/** "Files cannot be sent to addresses at gmail.com or a subdomain of example.net". */
export function blockedDomainsWords(domains: string[]): string {
  return `Addresses at ${orList(domains.map(domainWords))} cannot be recipients`;
}

/** "Links can live at most 30 days", "Links must live at least 3 days", or both in one sentence. */
export function ttlWords(min: number | null, max: number | null): string | null {
  const days = (n: number) => `${n} day${n === 1 ? "" : "s"}`;
  if (min !== null && max !== null) return min === max ? `Links live exactly ${days(min)}` : `Links live from ${days(min)} to ${days(max)}`;
  if (max !== null) return `Links can live at most ${days(max)}`;
  if (min !== null) return `Links must live at least ${days(min)}`;
  return null;
}

/** "Files up to 2.0 GiB". */
export function fileSizeWords(maxBytes: number): string {
  return `Files up to ${formatBytes(maxBytes)}`;
}

/** "you use 1.2 GiB of your 50.0 GiB". */
export function quotaWords(usedBytes: number, quotaBytes: number): string {
  return `you use ${formatBytes(usedBytes)} of your ${formatBytes(quotaBytes)}`;
}

/** "At most 10 recipients per package". */
export function recipientsWords(max: number): string {
  return `At most ${max} recipient${max === 1 ? "" : "s"} per package`;
}

export const PASSWORD_WORDS = "Packages you send need a password";
export const ENCRYPTION_WORDS = "Packages must be encrypted end to end";
