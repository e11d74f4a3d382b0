import type { Principal } from "./principal.js";
import { checkScopes } from "./scopes.js";
import type { Decision } from "./decision.js";

/**
 * User accounts are managed by admins only (the `admin` scope; 403 `admin_required` for a user).
 * That an admin cannot disable or demote themselves, nor force their own password reset, is a
 * rule about the change, answered 422 by the service.
 */
export const userRules = {
  "user.list": (principal: Principal): Decision => checkScopes(principal, ["admin"]),
  "user.create": (principal: Principal): Decision => checkScopes(principal, ["admin"]),
  "user.update": (principal: Principal, _user: { id: string }): Decision => checkScopes(principal, ["admin"]),
  "user.reset_password": (principal: Principal, _user: { id: string }): Decision => checkScopes(principal, ["admin"]),
};

export type UserAction = keyof typeof userRules;
