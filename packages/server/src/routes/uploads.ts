import type { Request, Response } from "express";
import type { Handler, Sent } from "../http/operations.js";
import { TusGateway } from "../http/tus.js";
import { Conflict } from "../errors.js";
import type { Services } from "../services/context.js";
import * as uploads from "../services/uploads.js";
import type { UploadScope } from "../services/uploads.js";

/**
 * Resumable uploads (tus 1.0): the routes find the scope (the caller's package, or the inbound
 * link's) and the upload, then @tus/server (http/tus.ts) does the protocol.
 */

const gateways = new WeakMap<Services, TusGateway>();
const gateway = (s: Services): TusGateway => {
  let g = gateways.get(s);
  if (!g) gateways.set(s, (g = new TusGateway(s)));
  return g;
};
const SENT: Sent = { kind: "sent" };

async function create(s: Services, req: Request, res: Response, scope: UploadScope): Promise<Sent> {
  await gateway(s).handle(req, res, scope, uploads.newUploadId());
  return SENT;
}

async function head(s: Services, req: Request, res: Response, scope: UploadScope, id: string): Promise<Sent> {
  const u = await uploads.scopedUpload(s, scope, id);
  if (u.completed_at !== null) {
    // Finished: its bytes are a file of the package now. A client that lost the last answer
    // learns that all arrived, and which file they became.
    res.status(200).set({
      "Tus-Resumable": "1.0.0",
      "Upload-Offset": String(u.size),
      "Upload-Length": String(u.size),
      "Cache-Control": "no-store",
      ...(u.file_id ? { "SpeedyFiles-File-Id": u.file_id } : {}),
    });
    res.end();
    return SENT;
  }
  await gateway(s).handle(req, res, scope, id);
  return SENT;
}

async function append(s: Services, req: Request, res: Response, scope: UploadScope, id: string): Promise<Sent> {
  const u = await uploads.scopedUpload(s, scope, id);
  if (u.completed_at !== null) {
    // The last PATCH again (its answer was lost): the file it became, if nothing more is sent.
    const file = await uploads.fileOfUpload(s, u);
    if (file && Number(req.headers["upload-offset"]) === u.size && Number(req.headers["content-length"] ?? 0) === 0) {
      res
        .status(200)
        .set({ "Tus-Resumable": "1.0.0", "Upload-Offset": String(u.size), "Cache-Control": "no-store" })
        .json(file);
      return SENT;
    }
    throw new Conflict("upload_offset_mismatch", "This upload is finished; all its bytes have arrived");
  }
  const from = Number(req.headers["upload-offset"]);
  const { status, offset } = await gateway(s).handle(req, res, scope, id);
  if (status === 204 && offset !== undefined) await uploads.noteReceived(s, id, offset);
  // Which bytes each PATCH brought: shows in the log that a resumed upload never sends a byte twice.
  req.log?.info({ uploadId: id, from, to: offset ?? null, status }, "tus patch");
  return SENT;
}

async function terminate(s: Services, req: Request, res: Response, scope: UploadScope, id: string): Promise<Sent> {
  const u = await uploads.scopedUpload(s, scope, id);
  if (u.completed_at !== null) throw new Conflict("package_closed", "This upload is finished; delete the file instead");
  // The row goes before the answer: a HEAD right after the 204 must find no upload (with S3
  // storage an upload with a row and no pieces would be one at offset 0).
  await gateway(s).handle(req, res, scope, id, async (status) => {
    if (status === 204) await uploads.forgetUpload(s, id);
  });
  return SENT;
}

/** OPTIONS: tus discovery (version, extensions, max size); no package is looked at. */
async function describe(s: Services, req: Request, res: Response): Promise<Sent> {
  const scope: UploadScope = { packageId: "", ownerId: "", via: "owner", basePath: "", encrypted: false, accepts: () => false };
  await gateway(s).handle(req, res, scope, "");
  return SENT;
}

export const createUpload: Handler<"createUpload"> = async ({ s, req, res, user, params }) => create(s, req, res, await uploads.ownerScope(s, user, params.id));
export const describeUploads: Handler<"describeUploads"> = async ({ s, req, res }) => describe(s, req, res);
export const getUploadOffset: Handler<"getUploadOffset"> = async ({ s, req, res, user, params }) =>
  head(s, req, res, await uploads.ownerScope(s, user, params.id), params.upload_id);
export const appendUpload: Handler<"appendUpload"> = async ({ s, req, res, user, params }) => append(s, req, res, await uploads.ownerScope(s, user, params.id), params.upload_id);
export const terminateUpload: Handler<"terminateUpload"> = async ({ s, req, res, user, params }) =>
  terminate(s, req, res, await uploads.ownerScope(s, user, params.id), params.upload_id);

export const createLinkUpload: Handler<"createLinkUpload"> = async ({ s, req, res, params, client }) => create(s, req, res, await uploads.linkScope(s, params.link, client));
export const describeLinkUploads: Handler<"describeLinkUploads"> = async ({ s, req, res }) => describe(s, req, res);
export const getLinkUploadOffset: Handler<"getLinkUploadOffset"> = async ({ s, req, res, params, client }) =>
  head(s, req, res, await uploads.linkScope(s, params.link, client), params.upload_id);
export const appendLinkUpload: Handler<"appendLinkUpload"> = async ({ s, req, res, params, client }) =>
  append(s, req, res, await uploads.linkScope(s, params.link, client), params.upload_id);
export const terminateLinkUpload: Handler<"terminateLinkUpload"> = async ({ s, req, res, params, client }) =>
  terminate(s, req, res, await uploads.linkScope(s, params.link, client), params.upload_id);
