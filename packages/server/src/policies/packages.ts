import type { Principal } from "./principal.js";
import { checkScopes } from "./scopes.js";
import { allOf, deny, enforce, type Decision } from "./decision.js";

/** What a package policy needs to know of a package. */
export interface PackageResource {
  owner_id: string;
}

/** The package is the caller's: packages are never shared, not even with admins (403 `package_forbidden`). */
function owns(principal: Principal, pkg: PackageResource): Decision {
  return pkg.owner_id === principal.userId ? true : deny("package_forbidden", "You do not have access to this package");
}

const read = (principal: Principal, pkg: PackageResource): Decision =>
  allOf(
    () => checkScopes(principal, ["packages:read"]),
    () => owns(principal, pkg),
  );
const write = (principal: Principal, pkg: PackageResource): Decision =>
  allOf(
    () => checkScopes(principal, ["packages:write"]),
    () => owns(principal, pkg),
  );

/**
 * Packages: created by anyone holding `packages:write`; read with `packages:read`, changed with
 * `packages:write`, and only by their owner. Finer actions than read/write, so that a later rule
 * (a quota on uploads, an admin policy on sharing) has one place to go.
 */
export const packageRules = {
  "package.create": (principal: Principal): Decision => checkScopes(principal, ["packages:write"]),
  "package.read": read,
  /** PATCH, and deleting one of its files. */
  "package.update": write,
  /** Adding a file (multipart or tus). */
  "package.upload": write,
  /** Finalize, resend, revoke: what makes links live or dead. */
  "package.share": write,
  "package.delete": write,
};

export type PackageAction = keyof typeof packageRules;

/**
 * The list's scope: which packages a caller's list query may return (its owner filter, applied in
 * the query itself so a page never holds another user's package).
 */
export function packageListScope(principal: Principal): { ownerId: string } {
  enforce(checkScopes(principal, ["packages:read"]));
  return { ownerId: principal.userId };
}
