import type { Request } from "express";
import type { BlobStore } from "../storage/blob-store.js";
import type { FileView } from "../services/packages.js";
import type { UploadTarget } from "../services/files.js";
import type { UploadRoom } from "../services/quota.js";
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
  // announced far over its limit (or its owner's quota) is refused before any of it is read, and
  // the quota's room is taken for what it announces.
  const length = Number(req.headers["content-length"] ?? NaN);
  const announced = Number.isFinite(length) && length >= 0 ? { atLeast: Math.max(0, length - FRAMING_ALLOWANCE), atMost: length } : { atLeast: 0, atMost: undefined };
  let room: UploadRoom;
  try {
    room = await target.prepare(announced);
  } catch (err) {
    discardBody(req);
    throw err;
  }
  const ended = meter.uploadStarted();
  try {
    return await target.commit(await receiveFile(req, store, { ...room, encrypted: target.encrypted, meter }), room);
  } catch (err) {
    discardBody(req);
    throw err;
  } finally {
    ended();
    await room.release();
  }
}
