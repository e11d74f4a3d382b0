import type { DownloadHandler, Handler } from "../http/operations.js";
import { receiveUpload } from "../http/upload.js";
import * as files from "../services/files.js";

export const uploadFile: Handler<"uploadFile"> = async ({ s, req, user, params }) => ({
  status: 201,
  body: await receiveUpload(req, s.storage, await files.uploadFile(s, user, params.id), s.metrics),
});

/** GET and HEAD: the download path sends the headers only for a HEAD. */
export const downloadFile: DownloadHandler<"downloadFile" | "headFile"> = async ({ s, user, params }) => files.downloadFile(s, user, params.id, params.file_id);

export const deleteFile: Handler<"deleteFile"> = async ({ s, user, params }) => {
  await files.deleteFile(s, user, params.id, params.file_id);
  return { status: 204 };
};
