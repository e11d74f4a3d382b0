// The packages capability, one file per group of operations under services/packages/: create,
// list, detail (get, events, recipients), share (finalize, resend, revoke a link), update (change,
// revoke), delete, and owned (the ownership checks the others share). Callers import from here.
export { createPackage, LINK_PASSWORD } from "./packages/create.js";
export { listPackages, type ListPackagesOptions } from "./packages/list.js";
export { getPackage, listPackageEvents, packageDetail, packageRecipients, toPackageEvent, type PackageDetail, type Recipient } from "./packages/detail.js";
export { finalizePackage, resendPackage, revokePackageLink } from "./packages/share.js";
export { revokePackage, updatePackage } from "./packages/update.js";
export { deletePackage } from "./packages/delete.js";
export { lockOwnedPackage, ownedPackage } from "./packages/owned.js";
export { effectiveStatus, encryptionOf, toFileView, toPackageView, type FileView, type PackageView } from "./views.js";
