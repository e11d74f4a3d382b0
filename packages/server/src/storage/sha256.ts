import crypto, { type Hash } from "node:crypto";
import type { Readable } from "node:stream";

/**
 * Feeds a stream's bytes into a SHA-256 (a new one, or `hash` to continue) and answers it, not yet
 * digested: a tus upload's hash state continues from there, a finished upload digests it.
 */
export async function sha256Of(stream: Readable, hash: Hash = crypto.createHash("sha256")): Promise<Hash> {
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash;
}
