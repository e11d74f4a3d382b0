import type { components } from "../../generated/api.js";
import { Conflict, Gone, ValidationFailed } from "../../errors.js";
import { findPackage, revokePackageRow, updatePackageRow } from "../../db/packages.js";
import { resetLimitNotices } from "../../db/links.js";
import { effectiveStatus } from "../views.js";
import { emit } from "../../events/emit.js";
import { addDays, type Principal, type Services } from "../context.js";
import { type PackageDetail, packageDetail } from "./detail.js";
import { ownedPackage, lockOwnedPackage } from "./owned.js";
import { checkExpiry, checkTtlDays, quotaFullToRevive } from "../../policies/instance-rules.js";
import { packageUsage } from "../../db/files.js";
import { heldBytes, lockQuotaOwner } from "../../db/quota.js";
import { rulesForRole, rulesForUser } from "../policy.js";

type Schemas = components["schemas"];

/**
 * `PATCH /packages/{id}`: a new expiry (reviving an expired package whose files are still
 * stored) or download limit. The new expiry is at most SF_MAX_TTL_DAYS from now, and within the
 * policy's min_ttl_days and max_ttl_days.
 */
export async function updatePackage(s: Services, user: Principal, id: string, input: Schemas["PackageUpdateRequest"]): Promise<PackageDetail> {
  if (input.expires_at !== undefined && input.ttl_days !== undefined) {
    throw new ValidationFailed("Give either expires_at or ttl_days, not both", "/body/expires_at");
  }
  const now = s.clock();
  const latest = addDays(now, s.config.maxTtlDays);
  // Read before the transaction: the policy's cache may need the database (SQLite has one connection).
  const rules = await rulesForRole(s, user.role);
  // The quota is the owner's (read here too: not inside the transaction).
  const owner = (await findPackage(s.db, id))?.owner_id;
  const ownerRules = owner === undefined || owner === user.userId ? rules : await rulesForUser(s, owner);
  await s.db.transaction(async (trx) => {
    const p = await lockOwnedPackage(trx, user, id, "package.update");
    const status = effectiveStatus(p, now);
    if (status === "revoked") throw new Conflict("package_not_active", "Package is revoked; its links cannot be changed");
    const change: Parameters<typeof updatePackageRow>[2] = {};
    if (input.max_downloads !== undefined) {
      if (p.direction !== "outbound") throw new ValidationFailed("max_downloads applies to outbound packages only", "/body/max_downloads");
      change.max_downloads = input.max_downloads;
    }
    if (status === "draft") {
      if (input.expires_at !== undefined) throw new ValidationFailed("A draft's expiry is set when it is finalized; give ttl_days", "/body/expires_at");
      if (input.ttl_days !== undefined) {
        checkTtlDays(rules, input.ttl_days);
        if (input.ttl_days > s.config.maxTtlDays) throw new ValidationFailed(`ttl_days must be at most ${s.config.maxTtlDays} on this server`, "/body/ttl_days");
        change.ttl_days = input.ttl_days;
      }
    } else if (input.expires_at !== undefined || input.ttl_days !== undefined) {
      const expires = input.ttl_days !== undefined ? addDays(now, input.ttl_days) : new Date(input.expires_at!);
      const path = input.ttl_days !== undefined ? "/body/ttl_days" : "/body/expires_at";
      if (Number.isNaN(expires.getTime()) || expires <= now) throw new ValidationFailed("The new expiry must be in the future", path);
      checkExpiry(rules, expires, now, path);
      if (expires > latest) throw new ValidationFailed(`The new expiry must be at most ${s.config.maxTtlDays} days from now on this server`, path);
      if (p.purged_at !== null) throw new Gone("package_purged", "This package's files were already deleted; it cannot be extended");
      // An expired package holds nothing against the quota; brought back, its files count again.
      if (status === "expired" && ownerRules.quota_bytes_per_user !== null) {
        await lockQuotaOwner(trx, p.owner_id);
        const held = await heldBytes(trx, p.owner_id, now.toISOString());
        const size = (await packageUsage(trx, id)).bytes;
        if (held + size > ownerRules.quota_bytes_per_user) throw quotaFullToRevive(ownerRules.quota_bytes_per_user, held, size, path);
      }
      change.expires_at = expires.toISOString();
      if (input.ttl_days !== undefined) change.ttl_days = input.ttl_days;
      change.status = "active";
    }
    await updatePackageRow(trx, id, change);
    if (input.max_downloads !== undefined) await resetLimitNotices(trx, id);
  });
  return packageDetail(s, (await findPackage(s.db, id))!);
}

/** `POST /packages/{id}/revoke`: active → revoked. */
export async function revokePackage(s: Services, user: Principal, id: string): Promise<PackageDetail> {
  const p = await ownedPackage(s, user, id, "package.share");
  const now = s.clock();
  const status = effectiveStatus(p, now);
  if (status !== "active") throw new Conflict("package_not_active", `Package is ${status}; only an active package can be revoked`);
  await s.db.transaction(async (trx) => {
    if (!(await revokePackageRow(trx, id, now.toISOString()))) throw new Conflict("package_not_active", "Package changed meanwhile; it is no longer active");
    await emit(trx, s, { type: "package.revoked", pkg: p }, user);
  });
  return packageDetail(s, (await findPackage(s.db, id))!);
}
