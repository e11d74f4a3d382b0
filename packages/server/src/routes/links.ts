import type { DownloadHandler, Handler } from "../http/operations.js";
import { receiveUpload } from "../http/upload.js";
import * as links from "../services/links.js";

// The recipient's side: authorized by the magic link alone (`security: []` in openapi.yaml).

export const getLink: Handler<"getLink"> = async ({ s, params }) => ({ status: 200, body: await links.getLink(s, params.link) });

/** GET and HEAD: only a GET sent to its end counts as a download. */
export const downloadLinkFile: DownloadHandler<"downloadLinkFile" | "headLinkFile"> = async ({ s, params, client }) =>
  links.downloadLinkFile(s, params.link, params.file_id, client);

export const downloadLinkArchive: DownloadHandler<"downloadLinkArchive" | "headLinkArchive"> = async ({ s, params, client }) =>
  links.downloadLinkArchive(s, params.link, client);

export const uploadLinkFile: Handler<"uploadLinkFile"> = async ({ s, req, params, client }) => ({
  status: 201,
  body: await receiveUpload(req, s.storage, await links.uploadLinkFile(s, params.link, client)),
});

export const completeLink: Handler<"completeLink"> = async ({ s, params, client }) => ({
  status: 200,
  body: await links.completeLink(s, params.link, client),
});
