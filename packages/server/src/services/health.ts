import type { Services } from "./context.js";
import { pingDatabase } from "../db/knex.js";
import { VERSION } from "../version.js";

const withTimeout = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), ms).unref())]);

/**
 * How long one storage check answers /health: anonymous calls in a row must not each send a
 * request to the store (an S3 HeadBucket is a billed request). Concurrent calls share it too.
 */
export const STORAGE_CHECK_CACHE_MS = 5000;
const storageChecks = new WeakMap<object, { at: number; result: Promise<"ok" | "unreachable"> }>();

function checkStorage(s: Services): Promise<"ok" | "unreachable"> {
  const now = performance.now();
  const cached = storageChecks.get(s.storage);
  if (cached && now - cached.at < STORAGE_CHECK_CACHE_MS) return cached.result;
  const result = withTimeout(s.storage.check(), 3000).then(
    () => "ok" as const,
    () => "unreachable" as const,
  );
  storageChecks.set(s.storage, { at: now, result });
  return result;
}

/** `GET /health`: database and storage reachability (the storage's at most STORAGE_CHECK_CACHE_MS old). */
export async function getHealth(s: Services) {
  const [database, storage] = await Promise.all([
    withTimeout(pingDatabase(s.db), 3000).then(
      () => "ok" as const,
      (err: unknown) => {
        s.logger.warn({ err: String(err) }, "health: database unreachable");
        return "unreachable" as const;
      },
    ),
    checkStorage(s),
  ]);
  return {
    status: database === "ok" && storage === "ok" ? ("ok" as const) : ("unavailable" as const),
    database,
    storage,
    version: VERSION,
  };
}
