import type { components } from "../generated/api.js";
import { html, type SafeHtml } from "./html.js";
import { formatBytes } from "./format.js";
import { allowedDomainsWords, blockedDomainsWords, ENCRYPTION_WORDS, fileSizeWords, PASSWORD_WORDS, quotaWords, recipientsWords, ttlWords } from "../util/policy-words.js";

/** The limits a user works within: the policy's rules for their role and the server's own. */
export interface LimitsData {
  rules: components["schemas"]["EffectiveRules"];
  /** What the user holds against the quota; null where no one user is meant (the admin's preview). */
  quotaUsedBytes: number | null;
  /** The largest file: the server's limit or the policy's, the lower. */
  maxFileBytes: number;
  /** The longest link lifetime: SF_MAX_TTL_DAYS or the policy's, the lower. */
  maxTtlDays: number;
}

/** The API's own ceiling for ttl_days: below it, SF_MAX_TTL_DAYS is worth saying. */
const API_MAX_TTL_DAYS = 365;

/** "Files up to 2.0 GiB; you use 1.2 GiB of your 50.0 GiB", the sentence of upload forms. */
export function uploadLimitWords(d: LimitsData): string {
  const quota = d.rules.quota_bytes_per_user;
  if (quota === null) return fileSizeWords(d.maxFileBytes);
  if (d.quotaUsedBytes === null) return `${fileSizeWords(d.maxFileBytes)}; each user may hold ${formatBytes(quota)}`;
  return `${fileSizeWords(d.maxFileBytes)}; ${quotaWords(d.quotaUsedBytes, quota)}`;
}

/**
 * The limits in words, shown before a user hits them: for a new package (`create`: lifetime,
 * recipients, password, encryption) and for uploads (`upload`: file size and quota). Null when
 * there is nothing to say.
 */
export function policyLimits(d: LimitsData, opts: { create: boolean; upload: boolean }): SafeHtml | null {
  const r = d.rules;
  const items: string[] = [];
  if (opts.create) {
    const max = r.max_ttl_days !== null || d.maxTtlDays < API_MAX_TTL_DAYS ? d.maxTtlDays : null;
    const ttl = ttlWords(r.min_ttl_days, max);
    if (ttl) items.push(ttl);
    if (r.allowed_recipient_domains) items.push(allowedDomainsWords(r.allowed_recipient_domains));
    if (r.blocked_recipient_domains) items.push(blockedDomainsWords(r.blocked_recipient_domains));
    if (r.max_recipients !== null) items.push(recipientsWords(r.max_recipients));
    if (r.require_password) items.push(`${PASSWORD_WORDS} (an upload request does not)`);
    if (r.require_encryption) items.push(`${ENCRYPTION_WORDS}: this page cannot encrypt; use sf send --encrypt or sf request --encrypt`);
  }
  if (opts.upload) items.push(uploadLimitWords(d));
  if (items.length === 0) return null;
  return html`<ul class="limits" id="policy-limits">${items.map((i) => html`<li>${i}.</li>`)}</ul>`;
}
