import type { Principal } from "./principal.js";
import { packageRules, type PackageResource } from "./packages.js";
import { deny, enforce, type Decision } from "./decision.js";

/**
 * Recipient links, from both sides. The owner revokes a recipient's link as they share the
 * package (`packages:write`, their own package). A recipient is no principal: the magic link is
 * the capability, and what it allows depends on the package's direction.
 */
export const linkRules = {
  "link.revoke": (principal: Principal, pkg: PackageResource): Decision => packageRules["package.share"](principal, pkg),
};

export type LinkAction = keyof typeof linkRules;

/** What the holder of a live link may do with it. */
export type RecipientAction = "download";

export function recipientDecision(action: RecipientAction, pkg: { direction: "outbound" | "inbound" }): Decision {
  switch (action) {
    case "download":
      return pkg.direction === "outbound" ? true : deny("link_download_forbidden", "Files sent through an upload link cannot be downloaded with it");
  }
}

/** Throws 403 unless the holder of a live link of `pkg` may do `action`. */
export function authorizeRecipient(action: RecipientAction, pkg: { direction: "outbound" | "inbound" }): void {
  enforce(recipientDecision(action, pkg));
}
