import type { Principal } from "./principal.js";
import { enforce, type Decision } from "./decision.js";
import { packageRules } from "./packages.js";
import { linkRules } from "./links.js";
import { webhookRules } from "./webhooks.js";
import { userRules } from "./users.js";
import { tokenRules } from "./tokens.js";

/**
 * Who may do what, in one place (one file per resource). Services ask `authorize` before they act;
 * lists ask each policy's list scope, which becomes the query's filter. Authentication is the
 * http/ layer's; from there on a caller is a `Principal` with a kind and scopes.
 */
const RULES = { ...packageRules, ...linkRules, ...webhookRules, ...userRules, ...tokenRules };

export type Action = keyof typeof RULES;

/** The resource an action is judged on, if it has one (a create or a list has none). */
type ResourceArgs<A extends Action> = Parameters<(typeof RULES)[A]> extends [Principal, infer R] ? [resource: R] : [];

/** The policy's answer for `principal` doing `action` (on `resource`). */
export function decide<A extends Action>(principal: Principal, action: A, ...resource: ResourceArgs<A>): Decision {
  const rule = RULES[action] as (p: Principal, r?: unknown) => Decision;
  return rule(principal, resource[0]);
}

/** Whether `principal` may do `action` (on `resource`): for pages that show or hide a button. */
export function can<A extends Action>(principal: Principal, action: A, ...resource: ResourceArgs<A>): boolean {
  return decide(principal, action, ...resource) === true;
}

/** Throws 403 with the policy's stable code unless `principal` may do `action` (on `resource`). */
export function authorize<A extends Action>(principal: Principal, action: A, ...resource: ResourceArgs<A>): void {
  enforce(decide(principal, action, ...resource));
}

export { SCOPES, type Principal, type PrincipalKind, type Scope } from "./principal.js";
export { checkScopes, grantedScopes, isScope, scopesForRole } from "./scopes.js";
export { packageListScope, type PackageResource } from "./packages.js";
export { authorizeRecipient } from "./links.js";
export { webhookListScope } from "./webhooks.js";
export { newTokenScopes, requestedTokenScopes, tokenListScope } from "./tokens.js";
export type { Decision, Denial } from "./decision.js";
