import type { Principal } from "./principal.js";
import { checkScopes } from "./scopes.js";
import { allOf, deny, enforce, type Decision } from "./decision.js";

/** What a webhook policy needs to know of a webhook. */
export interface WebhookResource {
  owner_id: string;
}

/** Its owner manages a webhook, and so does a caller holding `admin`; anyone else gets 403 `webhook_forbidden`. */
function manages(principal: Principal, hook: WebhookResource): Decision {
  return hook.owner_id === principal.userId || principal.scopes.has("admin") ? true : deny("webhook_forbidden", "You do not have access to this webhook");
}

export const webhookRules = {
  "webhook.create": (principal: Principal): Decision => checkScopes(principal, ["webhooks:write"]),
  /** The webhook and its deliveries. */
  "webhook.read": (principal: Principal, hook: WebhookResource): Decision =>
    allOf(
      () => checkScopes(principal, ["webhooks:read"]),
      () => manages(principal, hook),
    ),
  /** Change, delete, test, redeliver. */
  "webhook.write": (principal: Principal, hook: WebhookResource): Decision =>
    allOf(
      () => checkScopes(principal, ["webhooks:write"]),
      () => manages(principal, hook),
    ),
};

export type WebhookAction = keyof typeof webhookRules;

/**
 * The list's scope: the caller's own webhooks, or with `all` everyone's (which needs `admin`:
 * 403 `admin_required` for a user). `ownerId` undefined means every owner.
 */
export function webhookListScope(principal: Principal, all: boolean): { ownerId: string | undefined } {
  enforce(checkScopes(principal, all ? ["webhooks:read", "admin"] : ["webhooks:read"]));
  return { ownerId: all ? undefined : principal.userId };
}
