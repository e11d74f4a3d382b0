import type { Policy, PolicyRules, PolicyUpdateRequest } from "../types.js";

type Role = "user" | "admin";

/** A role's overrides to change: a value (`null`: no rule for that role), or `"inherit"` to drop the override. */
export type RoleChanges = { [K in keyof PolicyRules]?: PolicyRules[K] | "inherit" };

/**
 * Changes to the instance's policy (`admin.policy.update`): each rule named replaces the
 * instance's (`null`: no rule); under `roles`, each rule named replaces that role's override
 * (`"inherit"` removes it, so the role follows the instance's rule again). Rules not named stay.
 */
export type PolicyChanges = Omit<PolicyUpdateRequest, "roles"> & { roles?: { [R in Role]?: RoleChanges } };

/**
 * The whole policy to PUT: `current` (a GET's answer) with `changes` applied. Every rule the
 * server sent is kept, even one this SDK does not know, so an older client never clears it.
 */
export function mergePolicy(current: Policy, changes: PolicyChanges): PolicyUpdateRequest {
  const { roles: roleChanges, ...ruleChanges } = changes;
  const body: Record<string, unknown> = { ...current.rules, ...ruleChanges };
  const roles: Partial<Record<Role, PolicyRules>> = {};
  for (const role of ["user", "admin"] as const) {
    const merged: Record<string, unknown> = { ...current.roles[role] };
    for (const [rule, value] of Object.entries(roleChanges?.[role] ?? {})) {
      if (value === undefined) continue;
      if (value === "inherit") delete merged[rule];
      else merged[rule] = value;
    }
    if (Object.keys(merged).length > 0) roles[role] = merged as PolicyRules;
  }
  if (Object.keys(roles).length > 0) body.roles = roles;
  return body as PolicyUpdateRequest;
}
