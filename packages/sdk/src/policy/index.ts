export { policyRuleInWords, domainsInWords, daysInWords } from "./words.js";
export { policyRefusal, defaultTtl, domainListed, type PackagePlan, type RefusalContext } from "./check.js";
export { mergePolicy, type PolicyChanges, type RoleChanges } from "./merge.js";
