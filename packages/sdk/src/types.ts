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
/** One event of the instance's audit trail (GET /admin/events). */
export type AuditEvent = Schemas["AuditEvent"];
export type AuditEventList = Schemas["AuditEventList"];
