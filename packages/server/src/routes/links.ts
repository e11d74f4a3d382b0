import type { DownloadHandler, Handler } from "../http/operations.js";
import { receiveUpload } from "../http/upload.js";
import type { Request } from "express";
import * as links from "../services/links.js";
import { readCookie } from "../http/session-cookie.js";

// The recipient's side: authorized by the magic link alone (`security: []` in openapi.yaml), and
// by the package's password when it has one.

/** The cookie the link page sets once its password form was passed (scoped to that link's paths). */
export const LINK_COOKIE = "sf_link";

/** What the request presents for a password-protected link: `X-Link-Password` or the page's cookie. */
export function linkAccess(req: Request): links.LinkAccess {
  const header = req.headers["x-link-password"];
  return { password: typeof header === "string" ? header : undefined, cookie: readCookie(req, LINK_COOKIE) };
}

export const getLink: Handler<"getLink"> = async ({ s, req, params }) => ({ status: 200, body: await links.getLink(s, params.link, linkAccess(req)) });

/**
 * GET and HEAD: only a GET sent to its end counts as a download. `redirect=never`: no redirect to
 * a presigned URL (the recipient page's decrypting worker fetches from this origin only).
 */
export const downloadLinkFile: DownloadHandler<"downloadLinkFile" | "headLinkFile"> = async ({ s, req, params, query, client }) => ({
  ...(await links.downloadLinkFile(s, params.link, params.file_id, client, linkAccess(req))),
  redirect: query.redirect !== "never",
});

export const downloadLinkArchive: DownloadHandler<"downloadLinkArchive" | "headLinkArchive"> = async ({ s, req, params, client }) =>
  links.downloadLinkArchive(s, params.link, client, linkAccess(req));

export const uploadLinkFile: Handler<"uploadLinkFile"> = async ({ s, req, params, client }) => ({
  status: 201,
  body: await receiveUpload(req, s.storage, await links.uploadLinkFile(s, params.link, client), s.metrics),
});

export const completeLink: Handler<"completeLink"> = async ({ s, params, client }) => ({
  status: 200,
  body: await links.completeLink(s, params.link, client),
});
