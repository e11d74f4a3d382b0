// The recipient's side of a package, one file per capability under services/links/: access (the
// live link, its password), cookie (the page's password cookie), view, downloads (counts, holds,
// receipts) and uploads (an inbound link's files and "done"). Callers import from here.
export { isLinkSecret, liveLink, openLink, unlockLink, type LinkAccess, type LiveLink } from "./links/access.js";
export { LINK_COOKIE_MAX_SECONDS, linkCookie } from "./links/cookie.js";
export { getLink, viewOf, type LinkView } from "./links/view.js";
export { countsAsDownload, downloadLinkArchive, downloadLinkFile } from "./links/downloads.js";
export { acceptsRecipientFiles, completeLink, recordUploadThroughLink, uploadLinkFile } from "./links/uploads.js";
