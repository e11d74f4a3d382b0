import { NotFound } from "../../errors.js";
import { findPackage, lockPackage, type PackageRow, type PackageWithCounts } from "../../db/packages.js";
import type { Principal, Services } from "../context.js";
import { authorize } from "../../policies/index.js";
import type { PackageAction } from "../../policies/packages.js";
import type { LinkAction } from "../../policies/links.js";

/** What may be done to an existing package (everything but creating one). */
type OnPackage = Exclude<PackageAction, "package.create">;

/**
 * The package if it exists and the caller may do `action` on it (policies/packages.ts: the seed's
 * rule, another user's package is 403); an unknown id is 404.
 */
export async function ownedPackage(s: Services, user: Principal, id: string, action: OnPackage): Promise<PackageWithCounts> {
  const p = await findPackage(s.db, id);
  if (!p) throw new NotFound("package_not_found", "Package not found");
  authorize(user, action, p);
  return p;
}

/**
 * Locks the caller's package for the transaction `trx` (see lockForUpdate): every status check
 * that leads to a change happens under this lock, so a finalize, an upload and a file deletion
 * of one package never interleave.
 */
export async function lockOwnedPackage(trx: Services["db"], user: Principal, id: string, action: OnPackage | LinkAction): Promise<PackageRow> {
  const p = await lockPackage(trx, id);
  if (!p) throw new NotFound("package_not_found", "Package not found");
  authorize(user, action, p);
  return p;
}
