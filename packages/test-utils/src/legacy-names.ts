import crypto from "node:crypto";
import type { TestServer } from "./server.js";
import { addFile } from "./uploads.js";

/**
 * A file whose name the upload rules refuse today (`<`, `>`, `"`, … which Windows cannot store),
 * as rows written before those rules may still carry. It is uploaded under a stand-in name and
 * the row renamed, so pages, headers and mail can still be tested for escaping such names.
 */
export async function addFileWithLegacyName(t: TestServer, token: string, packageId: string, name: string, bytes: Buffer | string) {
  const f = await addFile(t, token, packageId, `legacy-${crypto.randomUUID()}.txt`, bytes);
  await t.running.services.db("files").where({ id: f.id }).update({ name });
  return { ...f, name };
}
