import type { HandlerTable } from "../http/operations.js";
import { getHealth } from "./health.js";
import { createSessionToken, createToken, getMe, listTokens, revokeToken } from "./me.js";
import { createUser, listUsers, updateUser } from "./admin.js";
import { getMyPolicy, getPolicy, putPolicy } from "./policy.js";
import { listAdminEvents } from "./audit.js";
import { confirmPasswordReset, forcePasswordReset, requestPasswordReset } from "./password-reset.js";
import { createTrustPolicy, deleteTrustPolicy, exchangeOidcToken, getTrustPolicy, listTrustPolicies, updateTrustPolicy } from "./trust-policies.js";
import {
  createPackage,
  deletePackage,
  finalizePackage,
  getPackage,
  listPackageEvents,
  listPackages,
  resendPackage,
  revokePackage,
  revokePackageLink,
  updatePackage,
} from "./packages.js";
import { deleteFile, downloadFile, uploadFile } from "./files.js";
import { completeLink, downloadLinkArchive, downloadLinkFile, getLink, uploadLinkFile } from "./links.js";
import {
  appendLinkUpload,
  appendUpload,
  createLinkUpload,
  createUpload,
  describeLinkUploads,
  describeUploads,
  getLinkUploadOffset,
  getUploadOffset,
  terminateLinkUpload,
  terminateUpload,
} from "./uploads.js";
import { createWebhook, deleteWebhook, getWebhook, listWebhookDeliveries, listWebhooks, redeliverWebhookDelivery, testWebhook, updateWebhook } from "./webhooks.js";

/**
 * Every operationId of openapi.yaml and its handler: the one table to start from. A handler of
 * the same name lives in `routes/<tag>.ts` and calls the service function of the same name in
 * `services/<noun>.ts`, which calls the repositories in `db/`. A missing, extra or misspelled
 * entry fails `pnpm typecheck`.
 */
export const handlers: HandlerTable = {
  getHealth,
  createSessionToken,
  requestPasswordReset,
  confirmPasswordReset,
  getMe,
  getMyPolicy,
  listTokens,
  createToken,
  revokeToken,
  listUsers,
  createUser,
  updateUser,
  getPolicy,
  putPolicy,
  listAdminEvents,
  forcePasswordReset,
  exchangeOidcToken,
  listTrustPolicies,
  createTrustPolicy,
  getTrustPolicy,
  updateTrustPolicy,
  deleteTrustPolicy,
  listPackages,
  createPackage,
  getPackage,
  updatePackage,
  deletePackage,
  uploadFile,
  downloadFile,
  headFile: downloadFile,
  deleteFile,
  createUpload,
  describeUploads,
  getUploadOffset,
  appendUpload,
  terminateUpload,
  finalizePackage,
  revokePackage,
  resendPackage,
  revokePackageLink,
  listPackageEvents,
  getLink,
  uploadLinkFile,
  downloadLinkFile,
  headLinkFile: downloadLinkFile,
  downloadLinkArchive,
  headLinkArchive: downloadLinkArchive,
  completeLink,
  createLinkUpload,
  describeLinkUploads,
  getLinkUploadOffset,
  appendLinkUpload,
  terminateLinkUpload,
  listWebhooks,
  createWebhook,
  getWebhook,
  updateWebhook,
  deleteWebhook,
  testWebhook,
  listWebhookDeliveries,
  redeliverWebhookDelivery,
};
