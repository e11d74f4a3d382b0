import type { Services } from "./context.js";
import { pingDatabase } from "../db/knex.js";
import { VERSION } from "../version.js";

const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), ms).unref())]);

/** `GET /health`: database and storage reachability. */
export async function getHealth(s: Services) {
  const [database, storage] = await Promise.all([
    withTimeout(pingDatabase(s.db), 3000).then(
      () => "ok" as const,
      (err: unknown) => {
        s.logger.warn({ err: String(err) }, "health: database unreachable");
        return "unreachable" as const;
      },
    ),
    withTimeout(s.storage.check(), 3000).then(
      () => "ok" as const,
      () => "unreachable" as const,
    ),
  ]);
  return {
    status: database === "ok" && storage === "ok" ? ("ok" as const) : ("unavailable" as const),
    database,
    storage,
    version: VERSION,
  };
}
