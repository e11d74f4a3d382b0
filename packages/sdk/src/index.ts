export {
  SpeedyFiles,
  createApiClient,
  normaliseBaseUrl,
  type ApiClient,
  type SpeedyFilesOptions,
  type SendOptions,
  type SendProgress,
  type SendResult,
  type SendResume,
  type RequestFilesOptions,
  type RequestOptions,
  type User,
  type Token,
  type TokenCreated,
  type Scope,
  type Package,
  type PackageDetail,
  type FinalizedPackage,
  type PackageList,
  type PackageFile,
  type PackageCreateRequest,
  type PackageUpdateRequest,
  type PackageLink,
  type FinalizedLink,
  type PackageStatus,
  type Direction,
  type UserCreateRequest,
  type UserUpdateRequest,
  type UserList,
  type Health,
  type PackageEvent,
  type Webhook,
  type WebhookCreated,
  type WebhookCreateRequest,
  type WebhookUpdateRequest,
  type WebhookDelivery,
  type WebhookDeliveryList,
  type TrustPolicy,
  type TrustPolicyCreateRequest,
  type TrustPolicyUpdateRequest,
  type Accepted,
  type ForcePasswordResetRequest,
  type Policy,
  type PolicyRules,
  type PolicyRuleName,
  type PolicyLimit,
  type PolicyUpdateRequest,
  type EffectivePolicy,
  type EffectiveRules,
  type MeMethod,
  type AuditEvent,
  type AuditEventList,
  type UploadSource,
  type UploadOptions,
  type UploadedFile,
  type DownloadOptions,
} from "./client.js";
export {
  SpeedyFilesError,
  ApiError,
  AuthenticationError,
  PermissionError,
  NotFoundError,
  ConflictError,
  GoneError,
  PayloadTooLargeError,
  ValidationError,
  PolicyViolationError,
  type PolicyViolationCode,
  RateLimitError,
  NetworkError,
  TimeoutError,
  ChecksumError,
  AbortError,
  UnexpectedResponseError,
  DecryptionError,
  type DecryptionErrorCode,
  type ErrorCode,
  type ServerErrorCode,
} from "./errors.js";
export {
  generateIdentity,
  identityToRecipient,
  splitLinkKey,
  openView,
  AgeEncryptTransform,
  type DecryptionKey,
  type EncryptionKey,
  type Encryption,
  type OpenedFile,
  type PlainFileMeta,
} from "./encryption/index.js";
export type { UploadTransform } from "./transfer/index.js";
export type { AuditEventFilters, AuditEventRange, AuditExport, AuditExportFormat } from "./resources/audit-events.js";
export { expandPaths, safeFilePath, type LocalFile } from "./files.js";
export {
  parseLink,
  getLink,
  downloadAll,
  downloadLinkFile,
  uploadToLink,
  completeLink,
  type LinkView,
  type LinkCompletion,
  type LinkOptions,
  type ParsedLink,
  type DownloadAllOptions,
  type LinkKeyOptions,
  type FileKeyOptions,
} from "./resources/links.js";
export type { OwnerDownloadOptions } from "./resources/files.js";
export type { Progress } from "./transfer/index.js";
export type { RecipientDownload, WaitForDownloadOptions, WaitForDownloadProgress, WaitForDownloadResult } from "./resources/wait-for-download.js";
export { ResumableUploadError, DEFAULT_RESUMABLE_THRESHOLD, DEFAULT_CHUNK_SIZE, type ResumableOptions } from "./transfer/index.js";
export { runConcurrently } from "./transfer/index.js";
export {
  verifyWebhookSignature,
  parseWebhookEvent,
  generateTestHeader,
  WebhookSignatureError,
  WEBHOOK_EVENT_TYPES,
  type WebhookEvent,
  type WebhookEventType,
  type VerifyOptions,
} from "./webhooks.js";
export type { ListIterator } from "./paginate.js";
export type { RetryOptions } from "./retry.js";
export { DEFAULT_RETRY_WINDOW_MS } from "./retry-window.js";
export { ciIdentity, ciHint, FederatedAuthError, type CiIdentity, type CiProvider, type Env } from "./auth/ci-identity.js";
export {
  federatedToken,
  defaultAudience,
  type FederatedToken,
  type FederatedTokenOptions,
  type TokenProvider,
  type TokenProviderContext,
  type OidcExchangeResponse,
} from "./auth/token-provider.js";
export { ciIdempotencyKey } from "./ci-run.js";
export { formatDuration, parseDuration } from "./duration.js";
export { formatBytes, parseBytes } from "./bytes.js";
export {
  policyRuleInWords,
  domainsInWords,
  policyRefusal,
  defaultTtl,
  domainListed,
  mergePolicy,
  type PackagePlan,
  type RefusalContext,
  type PolicyChanges,
  type RoleChanges,
} from "./policy/index.js";
export type { paths, components, operations } from "./generated/api.js";
export { VERSION } from "./version.js";
