import type { components } from "../generated/api.js";
import { html, type SafeHtml } from "./html.js";
import { secretOncePanel } from "./secret-once.js";
import { csrfField } from "./layout.js";
import { timeTag } from "./format.js";

type Schemas = components["schemas"];
type EventType = Schemas["WebhookEventType"];

/** The events a webhook can subscribe to, as the form offers them (`ping` comes from "Send test"). */
export const SUBSCRIBABLE: readonly [EventType, string][] = [
  ["package.created", "a package is created"],
  ["package.finalized", "it is finalized (link sent)"],
  ["package.downloaded", "a file or the zip is downloaded"],
  ["package.uploaded", "a file arrives through a request link"],
  ["package.completed", "the recipient says they are done"],
  ["package.revoked", "its link is revoked"],
  ["package.expired", "its link expires"],
  ["package.deleted", "it is deleted"],
];

function stateBadge(h: Schemas["Webhook"]): SafeHtml {
  if (!h.enabled) return html`<span class="badge revoked">disabled</span>`;
  if (h.failing_since) return html`<span class="badge expired">failing</span>`;
  return html`<span class="badge active">enabled</span>`;
}

export interface WebhookListData {
  hooks: Schemas["Webhook"][];
  csrfToken: string;
  /** Webhooks just created (by this browser's form, before this page): their secrets, shown once. */
  created?: Schemas["WebhookCreated"][] | undefined;
  form?: { url: string; description: string; events: string[] } | undefined;
}

/** Webhooks: the secret once after creating, the create form, the list. */
export function webhookListBody(d: WebhookListData): SafeHtml {
  const created = (d.created ?? []).map((c, i) => {
    const n = i ? `-${i}` : "";
    return secretOncePanel({
      headingId: `secret-heading${n}`,
      heading: "Signing secret of the new webhook",
      warning: html`<strong>Copy it now.</strong> It is shown only this once. Your receiver checks each request's <code>SpeedyFiles-Signature</code> with it.`,
      inputId: `webhook-secret${n}`,
      value: c.secret,
      label: "Signing secret",
      after: html`<p><a href="/webhooks/${c.id}">Open the webhook</a> (${c.url}) to send a test event.</p>`,
    });
  });
  const form = d.form ?? { url: "", description: "", events: SUBSCRIBABLE.map(([t]) => t) };
  const rows = d.hooks.map(
    (h) => html`<tr>
  <td class="name"><a href="/webhooks/${h.id}">${h.url}</a>${h.description ? html`<div class="muted small">${h.description}</div>` : ""}</td>
  <td>${stateBadge(h)}</td>
  <td class="small">${h.events.join(", ")}</td>
  <td>${timeTag(h.created_at)}</td>
</tr>`,
  );
  return html`<div class="page-head"><h1>Webhooks</h1></div>
<p class="muted">SpeedyFiles POSTs a signed JSON event to your URL when one of your packages changes, and retries for more than a day until it answers 2xx.</p>
${created}
<section class="panel">
  <details class="create"${d.form ? html` open` : ""}>
    <summary class="button primary">Add webhook</summary>
    <form method="post" action="/webhooks" class="form">
      ${csrfField(d.csrfToken)}
      <label for="url">URL</label>
      <input id="url" name="url" type="url" required maxlength="2000" placeholder="https://ci.example.com/hooks/speedyfiles" value="${form.url}">
      <label for="description">Description <span class="muted">(optional)</span></label>
      <input id="description" name="description" type="text" maxlength="200" value="${form.description}">
      <fieldset class="events">
        <legend>Send an event when</legend>
        ${SUBSCRIBABLE.map(
          ([type, label]) =>
            html`<label class="check"><input type="checkbox" name="events" value="${type}"${form.events.includes(type) ? html` checked` : ""}> <code>${type}</code> <span class="muted">${label}</span></label>`,
        )}
      </fieldset>
      <button type="submit" class="button primary">Add webhook</button>
    </form>
  </details>
  ${
    d.hooks.length === 0
      ? html`<p class="empty">No webhooks yet.</p>`
      : html`<table class="table" id="webhooks">
    <thead><tr><th scope="col">URL</th><th scope="col">State</th><th scope="col">Events</th><th scope="col">Added</th></tr></thead>
    <tbody>${rows}</tbody>
  </table>`
  }
</section>`;
}

export interface WebhookDetailData {
  hook: Schemas["Webhook"];
  deliveries: Schemas["WebhookDeliveryList"];
  csrfToken: string;
}

function deliveryState(d: Schemas["WebhookDelivery"]): SafeHtml {
  const cls = d.state === "succeeded" ? "active" : d.state === "failed" ? "revoked" : "draft";
  return html`<span class="badge ${cls}">${d.state}</span>`;
}

/** One webhook: its settings and actions, and the delivery log with redeliver. */
export function webhookDetailBody(d: WebhookDetailData): SafeHtml {
  const h = d.hook;
  const { items, total, page, per_page } = d.deliveries;
  const pages = Math.max(1, Math.ceil(total / per_page));
  const action = (path: string, label: string, cls = "button") =>
    html`<form method="post" action="/webhooks/${h.id}/${path}">${csrfField(d.csrfToken)}<button type="submit" class="${cls}">${label}</button></form>`;
  const rows = items.map(
    (x) => html`<tr>
  <td>${timeTag(x.created_at)}</td>
  <td><code>${x.event_type}</code>${x.redelivery_of ? html` <span class="muted small">(redelivery)</span>` : ""}</td>
  <td>${deliveryState(x)}</td>
  <td class="num">${x.attempts}</td>
  <td>${x.last_status_code ?? "—"}${x.last_duration_ms !== null ? html` <span class="muted small">${x.last_duration_ms} ms</span>` : ""}</td>
  <td class="small">${x.last_error ?? (x.next_attempt_at ? html`next try ${timeTag(x.next_attempt_at)}` : "")}</td>
  <td class="actions"><form method="post" action="/webhooks/${h.id}/deliveries/${x.id}/redeliver">${csrfField(d.csrfToken)}<button type="submit" class="button small">Redeliver</button></form></td>
</tr>`,
  );
  return html`<p class="crumbs"><a href="/webhooks">Webhooks</a> /</p>
<div class="page-head"><h1 class="url">${h.url}</h1>${stateBadge(h)}</div>
<section class="panel">
  <dl class="facts">
    ${h.description ? html`<dt>Description</dt><dd>${h.description}</dd>` : ""}
    <dt>Events</dt><dd>${h.events.map((e) => html`<code>${e}</code> `)}</dd>
    <dt>Added</dt><dd>${timeTag(h.created_at)}</dd>
    ${h.failing_since ? html`<dt>Failing since</dt><dd>${timeTag(h.failing_since)}</dd>` : ""}
    ${h.disabled_reason ? html`<dt>Disabled because</dt><dd>${h.disabled_reason}</dd>` : ""}
  </dl>
  <div class="button-row">
    ${action("test", "Send test event", "button primary")}
    ${h.enabled ? action("disable", "Disable") : action("enable", "Enable")}
    <details class="confirm">
      <summary class="button danger">Delete</summary>
      <form method="post" action="/webhooks/${h.id}/delete" class="confirm-box">${csrfField(d.csrfToken)}
        <p>Delete this webhook and its delivery log? Nothing more is sent to it.</p>
        <button type="submit" class="button danger">Delete webhook</button>
      </form>
    </details>
  </div>
</section>
<section class="panel">
  <h2>Deliveries <span class="muted small">${total}</span></h2>
  ${
    items.length === 0
      ? html`<p class="empty">No deliveries yet. “Send test event” sends a <code>ping</code>.</p>`
      : html`<table class="table" id="deliveries">
    <thead><tr><th scope="col">Created</th><th scope="col">Event</th><th scope="col">State</th><th scope="col" class="num">Attempts</th><th scope="col">Answer</th><th scope="col">Error / next try</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${rows}</tbody>
  </table>
  <nav class="pager" aria-label="Pages">
    <span class="muted">page ${page} of ${pages}</span>
    ${page > 1 ? html`<a class="button small" href="/webhooks/${h.id}?page=${page - 1}" rel="prev">Previous</a>` : ""}
    ${page < pages ? html`<a class="button small" href="/webhooks/${h.id}?page=${page + 1}" rel="next">Next</a>` : ""}
  </nav>`
  }
</section>`;
}
