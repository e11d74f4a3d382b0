import { Router, type NextFunction, type Request, type Response } from "express";
import type { Services } from "../services/context.js";
import { principal } from "../http/auth.js";
import { discardBody, receiveFile } from "../http/multipart.js";
import { PayloadTooLarge } from "../errors.js";
import { sendStoredFile } from "../http/send-file.js";
import { addFile, deleteFile, ownedDraftForUpload, ownedFile } from "../services/files.js";

const UPLOAD_PATH = /^\/api\/v1\/(packages|links)\/[^/]+\/files\/?$/;

/**
 * Runs before the OpenAPI validator: with `fileUploader: false` it would see an empty body and
 * reject the required `file` part, so a placeholder stands in. The real body is streamed later.
 */
export function multipartPlaceholder(req: Request, _res: Response, next: NextFunction): void {
  if (req.method === "POST" && UPLOAD_PATH.test(req.path) && /^multipart\/form-data/i.test(req.headers["content-type"] ?? "")) {
    req.body = { file: "" };
  }
  next();
}

export function fileRoutes(s: Services): Router {
  const r = Router();

  r.post("/packages/:id/files", async (req, res) => {
    const { pkg, plan } = await ownedDraftForUpload(s, principal(req).userId, req.params.id);
    // Content-Length is only a hint (the limit is enforced on the bytes themselves), but an
    // upload announced far over the limit is refused before any of it is read.
    const announced = Number(req.headers["content-length"] ?? NaN);
    if (Number.isFinite(announced) && announced > plan.maxBytes + 64 * 1024) {
      discardBody(req);
      throw new PayloadTooLarge(plan.tooLargeDetail);
    }
    try {
      const received = await receiveFile(req, s.storage, plan);
      res.status(201).json(await addFile(s, pkg.id, received));
    } catch (err) {
      discardBody(req);
      throw err;
    }
  });

  r.get("/packages/:id/files/:file_id", async (req, res) => {
    const f = await ownedFile(s, principal(req).userId, req.params.id, req.params.file_id);
    await sendStoredFile(req, res, s.storage, f);
  });

  r.delete("/packages/:id/files/:file_id", async (req, res) => {
    await deleteFile(s, principal(req).userId, req.params.id, req.params.file_id);
    res.status(204).end();
  });

  return r;
}
