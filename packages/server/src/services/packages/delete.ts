import { deletePackageRow } from "../../db/packages.js";
import { deleteFilesOf, storageKeysOf } from "../../db/files.js";
import { openUploadIdsOf } from "../../db/uploads.js";
import { insertDeadLink } from "../../db/dead-links.js";
import { listLinks } from "../../db/links.js";
import { queueBlobDeletions } from "../../db/blob-deletions.js";
import { deleteQueuedBlobs } from "../blob-deletions.js";
import { emit } from "../../events/emit.js";
import { nowIso, type Principal, type Services } from "../context.js";
import { lockOwnedPackage } from "./owned.js";

/**
 * `DELETE /packages/{id}`: the rows, then the stored bytes (their deletion queued in the same
 * transaction, retried by the sweeper until the store confirms). Its link answers 410 from then on.
 */
export async function deletePackage(s: Services, user: Principal, id: string): Promise<void> {
  let uploadIds: string[] = [];
  const keys = await s.db.transaction(async (trx) => {
    const p = await lockOwnedPackage(trx, user, id, "package.delete");
    uploadIds = await openUploadIdsOf(trx, id);
    // Reported as it was just before it went.
    await emit(trx, s, { type: "package.deleted", pkg: p }, user);
    for (const l of await listLinks(trx, id)) await insertDeadLink(trx, l.link_hash, nowIso(s.clock));
    const storageKeys = await storageKeysOf(trx, id);
    // The bytes' deletion is recorded with the rows': it happens even if the store is down now.
    await queueBlobDeletions(trx, storageKeys, nowIso(s.clock));
    await deleteFilesOf(trx, id);
    await deletePackageRow(trx, id);
    return storageKeys;
  });
  await deleteQueuedBlobs(s, keys);
  // The rows went with the package (ON DELETE CASCADE); their bytes go now.
  for (const uploadId of uploadIds) {
    await s.uploads.remove(uploadId).catch((err: unknown) => s.logger.error({ err, uploadId }, "could not remove an upload's bytes"));
  }
}
