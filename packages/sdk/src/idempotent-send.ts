import { ConflictError, NotFoundError, SpeedyFilesError } from "./errors.js";
import type { RequestOptions } from "./http.js";
import type { components } from "./generated/api.js";

type PackageDetail = components["schemas"]["PackageDetail"];
type PackageCreateRequest = components["schemas"]["PackageCreateRequest"];
type FinalizedPackage = Omit<components["schemas"]["FinalizedPackage"], "links"> & { links: components["schemas"]["FinalizedLink"][] };

/** The package calls a keyed send makes. */
interface Packages {
  create(body: PackageCreateRequest, o?: RequestOptions): Promise<PackageDetail>;
  get(id: string, o?: RequestOptions): Promise<PackageDetail>;
  finalize(id: string, o?: RequestOptions): Promise<FinalizedPackage>;
}

/** What a send's key may be: printable ASCII, room left for the suffixes of its two POSTs. */
const KEY = /^[\x21-\x7e]{8,200}$/;

/**
 * The Idempotency-Keys of a send's two POSTs, derived from the one key of the whole send (the
 * server binds a key to one operation, so create and finalize need their own).
 */
export function sendKeys(key: string): { create: string; finalize: string } {
  if (!KEY.test(key)) throw new SpeedyFilesError("idempotency key: 8 to 200 printable ASCII characters without spaces");
  return { create: `${key}.create`, finalize: `${key}.finalize` };
}

/**
 * The draft a keyed send fills, or the package it already sent. The create POST with the send's
 * key answers the package of the first run (for 24 hours); then:
 * - still a draft (the first run was killed): filled further, files it has are not sent again;
 * - already sent: finalize with the same key answers the first run's result, magic link included;
 * - gone (the first run failed and deleted it): a create keyed by the gone draft's id makes the
 *   next one, so every rerun walks the same chain to the same package.
 */
export async function claimDraft(
  packages: Packages,
  body: PackageCreateRequest,
  key: string,
  signal: AbortSignal | undefined,
): Promise<{ draft: PackageDetail } | { finalized: FinalizedPackage }> {
  const keys = sendKeys(key);
  const o = signal ? { signal } : {};
  let createKey = keys.create;
  // Each link of the chain is a failed earlier run; a bound keeps a broken server from looping.
  for (let i = 0; i < 20; i++) {
    const made = await packages.create(body, { ...o, idempotencyKey: createKey });
    const now = await packages.get(made.id, o).catch((err: unknown) => {
      if (err instanceof NotFoundError || (err as { status?: number }).status === 403) return undefined;
      throw err;
    });
    if (!now) {
      createKey = `${key}.create.${made.id}`;
      continue;
    }
    if (now.status === "draft") return { draft: now };
    try {
      return { finalized: await packages.finalize(made.id, { ...o, idempotencyKey: keys.finalize }) };
    } catch (err) {
      if (err instanceof ConflictError) {
        throw new SpeedyFilesError(
          `package ${made.id} was already sent with this idempotency key, but its link can no longer be shown (sent another way, or more than 24 hours ago): use another key to send again`,
          { cause: err },
        );
      }
      throw err;
    }
  }
  throw new SpeedyFilesError("idempotency key: too many failed earlier sends with this key; use another key");
}
