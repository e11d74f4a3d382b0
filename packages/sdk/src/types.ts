import type { components } from "./generated/api.js";

// The API's models under the names the SDK uses (the spec's schemas, generated).
type Schemas = components["schemas"];
export type User = Schemas["User"];
export type Token = Schemas["Token"];
export type TokenCreated = Schemas["TokenCreated"];
/** What a token may do (`packages:read`, `packages:write`, `webhooks:read`, `webhooks:write`, `tokens:write`, `admin`). */
export type Scope = Schemas["Scope"];
export type Package = Schemas["Package"];
export type PackageDetail = Schemas["PackageDetail"];
/** The answer of finalize and resend: the package with every recipient's link (shown only here). */
export type FinalizedPackage = Omit<Schemas["FinalizedPackage"], "links"> & { links: Schemas["FinalizedLink"][] };
export type PackageList = Schemas["PackageList"];
export type PackageFile = Schemas["File"];
export type PackageCreateRequest = Schemas["PackageCreateRequest"];
export type FinalizeRequest = Schemas["FinalizeRequest"];
export type PackageUpdateRequest = Schemas["PackageUpdateRequest"];
export type PackageLink = Schemas["PackageLink"];
export type FinalizedLink = Schemas["FinalizedLink"];
export type PackageStatus = Schemas["PackageStatus"];
export type Direction = Schemas["Direction"];
export type UserCreateRequest = Schemas["UserCreateRequest"];
export type UserUpdateRequest = Schemas["UserUpdateRequest"];
export type UserList = Schemas["UserList"];
export type Health = Schemas["Health"];
export type PackageEvent = Schemas["PackageEvent"];
export type Webhook = Schemas["Webhook"];
export type WebhookCreated = Schemas["WebhookCreated"];
export type WebhookCreateRequest = Schemas["WebhookCreateRequest"];
export type WebhookUpdateRequest = Schemas["WebhookUpdateRequest"];
export type WebhookDelivery = Schemas["WebhookDelivery"];
export type WebhookDeliveryList = Schemas["WebhookDeliveryList"];
export type TrustPolicy = Schemas["TrustPolicy"];
export type TrustPolicyCreateRequest = Schemas["TrustPolicyCreateRequest"];
export type TrustPolicyUpdateRequest = Schemas["TrustPolicyUpdateRequest"];
/** A 202 answer: the work is accepted, `detail` says what happens next. */
export type Accepted = Schemas["Accepted"];
export type ForcePasswordResetRequest = Schemas["ForcePasswordResetRequest"];
/** The name of one rule of the instance's policy (`max_file_bytes`, `quota_bytes_per_user`, …). */
export type PolicyRuleName = Schemas["PolicyRuleName"];
/** Rules as an admin sets them, or as a role overrides them: each `null` or left out is no rule. */
export type PolicyRules = Schemas["PolicyRules"];
/** Every rule, `null` where there is none: what applies (the instance's, or one user's). */
export type EffectiveRules = Schemas["EffectiveRules"];
/** The instance's policy: its rules, each role's overrides, and who changed it last. */
export type Policy = Schemas["Policy"];
/** What `admin.policy.put()` takes: the whole policy (a rule left out is no rule). */
export type PolicyUpdateRequest = Schemas["PolicyUpdateRequest"];
/** The caller's rules (their role's overrides applied) and the bytes they hold against the quota. */
export type EffectivePolicy = Schemas["EffectivePolicy"];
/** A rule's value in an error (`limit`): days, bytes or a count, a list of domains, or true. */
export type PolicyLimit = number | boolean | string[];
/** One event of the instance's audit trail (GET /admin/events). */
export type AuditEvent = Schemas["AuditEvent"];
export type AuditEventList = Schemas["AuditEventList"];
