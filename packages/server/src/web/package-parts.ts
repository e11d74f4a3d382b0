import type { components } from "../generated/api.js";
import { html, type SafeHtml } from "./html.js";

type Schemas = components["schemas"];
type Package = Schemas["Package"];
type Status = Package["status"];

/** What the package pages share: statuses and how a recipient is written. */

export const STATUSES: readonly Status[] = ["draft", "active", "expired", "revoked"];
export const STATUS_LABELS: Record<Status, string> = { draft: "Draft", active: "Active", expired: "Expired", revoked: "Revoked" };

export function statusBadge(status: Status): SafeHtml {
  return html`<span class="badge ${status}">${STATUS_LABELS[status]}</span>`;
}

export function recipientOf(p: Package): SafeHtml {
  return p.recipient_name ? html`${p.recipient_name} <span class="muted">&lt;${p.recipient_email}&gt;</span>` : html`${p.recipient_email}`;
}
