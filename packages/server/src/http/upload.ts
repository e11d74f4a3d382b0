import type { Request } from "express";
import { PayloadTooLarge } from "../errors.js";
import type { BlobStore } from "../storage/blob-store.js";
import type { FileView } from "../services/packages.js";
import type { UploadTarget } from "../services/files.js";
import { discardBody, receiveFile } from "./multipart.js";
import type { TransferMeter } from "../metrics/registry.js";

/** How far over the limit an announced Content-Length may be (multipart framing) before it is refused unread. */
const FRAMING_ALLOWANCE = 64 * 1024;

/**
 * The one upload path, for the owner and for inbound links alike: refuse at once what announces
 * itself far over the limit, stream the `file` part into storage while hashing it, then let the
 * service record it. On any failure nothing is kept, and what the client is still sending is read
 * and thrown away so that it can read our answer.
 */
export async function receiveUpload(req: Request, store: BlobStore, target: UploadTarget, meter: TransferMeter): Promise<FileView> {
  // Content-Length is only a hint (the limit is enforced on the bytes themselves), but an upload
  // announced far over the limit is refused before any of it is read.
  const announced = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(announced) && announced > target.maxBytes + FRAMING_ALLOWANCE) {
    discardBody(req);
    throw new PayloadTooLarge(target.tooLargeDetail);
  }
  const ended = meter.uploadStarted();
  try {
    return await target.commit(await receiveFile(req, store, { maxBytes: target.maxBytes, tooLargeDetail: target.tooLargeDetail, encrypted: target.encrypted, meter }));
  } catch (err) {
    discardBody(req);
    throw err;
  } finally {
    ended();
  }
}
