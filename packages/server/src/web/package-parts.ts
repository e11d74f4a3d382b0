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

/** A package's recipient as the pages write them. */
export interface Recipient {
  email: string;
  name: string | null;
}

function recipientHtml(r: Recipient): SafeHtml {
  return r.name ? html`${r.name} <span class="muted">&lt;${r.email}&gt;</span>` : html`${r.email}`;
}

/**
 * Who a package goes to: every recipient (`all`, in the order given; the package's first one when
 * not known), or the first `max` and "+k more" whose tooltip names them all.
 */
export function recipientsOf(p: Package, all?: Recipient[], max = Infinity): SafeHtml {
  const list = all && all.length > 0 ? all : [{ email: p.recipient_email, name: p.recipient_name }];
  const shown = list.slice(0, max).map((r, i) => html`${i > 0 ? ", " : ""}${recipientHtml(r)}`);
  if (list.length <= max) return html`${shown}`;
  const everyone = list.map((r) => (r.name ? `${r.name} <${r.email}>` : r.email)).join(", ");
  return html`${shown} <span class="more" title="${everyone}">+${list.length - max} more</span>`;
}
