// The transfer pipeline: source → transforms → hash → transport (uploads), and downloads.
export type { UploadSource, UploadedFile, Progress, UploadOptions, DownloadOptions, TransferContext } from "./types.js";
export { upload, type UploadTarget, type UploadContext, type UploadResult } from "./upload.js";
export type { UploadTransform } from "./transform.js";
export { DEFAULT_RESUMABLE_THRESHOLD, DEFAULT_CHUNK_SIZE, ResumableUploadError, uploadOffset, type ResumableOptions } from "./tus.js";
export { downloadToPath } from "./download.js";
export { runConcurrently, ProgressTotal } from "./pool.js";
