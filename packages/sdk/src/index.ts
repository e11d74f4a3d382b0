export {
  SpeedyFiles,
  createApiClient,
  normaliseBaseUrl,
  type ApiClient,
  type SpeedyFilesOptions,
  type SendOptions,
  type SendProgress,
  type SendResult,
  type User,
  type Token,
  type TokenCreated,
  type Package,
  type PackageDetail,
  type FinalizedPackage,
  type PackageList,
  type PackageFile,
  type PackageCreateRequest,
  type PackageStatus,
  type Direction,
  type UserCreateRequest,
  type UserUpdateRequest,
  type UserList,
  type Health,
  type PackageEvent,
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
  RateLimitError,
  NetworkError,
  TimeoutError,
  ChecksumError,
  AbortError,
  UnexpectedResponseError,
  type ErrorCode,
} from "./errors.js";
export { expandPaths, type LocalFile } from "./files.js";
export { parseLink, getLink, downloadAll, downloadLinkFile, uploadToLink, completeLink, safeJoin, type LinkView, type ParsedLink, type DownloadAllOptions } from "./links.js";
export type { Progress } from "./transfer.js";
export { runPool } from "./pool.js";
export type { RetryOptions } from "./retry.js";
export type { paths, components, operations } from "./generated/api.js";
