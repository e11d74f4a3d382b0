import type { Role } from "../db/users.js";
import { SCOPES, type Principal, type Scope } from "./principal.js";
import { deny, type Decision } from "./decision.js";

export { SCOPES, type Scope };

const USER_SCOPES: readonly Scope[] = SCOPES.filter((s) => s !== "admin");

/** Every scope a role allows: a user all but `admin`, an admin all. */
export function scopesForRole(role: Role): readonly Scope[] {
  return role === "admin" ? SCOPES : USER_SCOPES;
}

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/**
 * What a credential holds: the scopes it was limited to (`null`: not limited), within what the
 * user's role allows today (a demoted admin's tokens lose `admin` at once).
 */
export function grantedScopes(role: Role, limitedTo: readonly string[] | null): ReadonlySet<Scope> {
  const allowed = scopesForRole(role);
  return new Set(limitedTo === null ? allowed : allowed.filter((s) => limitedTo.includes(s)));
}

/**
 * The caller holds every one of `scopes`. Lacking `admin` without being an admin is
 * `admin_required` (no token of theirs could ever hold it); any other lack is
 * `insufficient_scope` (another credential of theirs could).
 */
export function checkScopes(principal: Principal, scopes: readonly Scope[]): Decision {
  const missing = scopes.filter((s) => !principal.scopes.has(s));
  if (missing.length === 0) return true;
  if (missing.includes("admin") && principal.role !== "admin") return deny("admin_required", "This needs an admin account");
  return deny("insufficient_scope", `This ${principal.kind === "session" ? "session" : "token"} lacks the scope ${missing.map((s) => `'${s}'`).join(", ")}`);
}
