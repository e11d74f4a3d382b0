import type { components } from "../generated/api.js";
import { html, type SafeHtml } from "./html.js";
import { secretOncePanel } from "./secret-once.js";
import { csrfField } from "./layout.js";
import { timeTag } from "./format.js";
import { tabs } from "./account-page.js";

type Schemas = components["schemas"];

export interface TokensPageData {
  tokens: Schemas["Token"][];
  csrfToken: string;
  role: "user" | "admin";
  now: string;
  /** The server's public URL, for the `sf login` line. */
  publicUrl: string;
  /** Tokens just created (by this browser's form, before this page): shown this once. */
  created?: Schemas["TokenCreated"][] | undefined;
  /** The create form again, after an error. */
  form?: { name: string; expires: string; scopes: string[] } | undefined;
}

const SCOPE_LABELS: Record<Schemas["Scope"], string> = {
  "packages:read": "Read packages",
  "packages:write": "Create and send packages",
  "webhooks:read": "Read webhooks",
  "webhooks:write": "Manage webhooks",
  "tokens:write": "Manage tokens",
  admin: "Administer the server",
};

/** The scopes a user of `role` may give a token, in the spec's order. */
function allowedScopes(role: "user" | "admin"): Schemas["Scope"][] {
  return (Object.keys(SCOPE_LABELS) as Schemas["Scope"][]).filter((sc) => role === "admin" || sc !== "admin");
}

const EXPIRY_CHOICES: [string, string][] = [
  ["", "Never"],
  ["7", "In 7 days"],
  ["30", "In 30 days"],
  ["90", "In 90 days"],
  ["365", "In 1 year"],
];

/** Account → API tokens: the new token once, the create form, the list with revoke. */
export function tokensBody(d: TokensPageData): SafeHtml {
  const created = (d.created ?? []).map((c, i) =>
    secretOncePanel({
      headingId: `created-heading${i ? `-${i}` : ""}`,
      heading: html`Your new token “${c.name}”`,
      warning: html`<strong>Copy it now.</strong> It is shown only this once and never again: SpeedyFiles keeps only a hash of it.`,
      inputId: `new-token${i ? `-${i}` : ""}`,
      value: c.token,
      label: "New API token",
      after: html`<p class="small">Use it as <code>Authorization: Bearer ${c.prefix}…</code>, or give it to the command line on stdin: <code>sf login --url ${d.publicUrl} --with-token</code> (paste it, or <code>&lt; token.txt</code>), or set <code>SF_TOKEN</code>.</p>`,
    }),
  );
  const allowed = allowedScopes(d.role);
  const rows = d.tokens.map((t) => {
    const all = allowed.every((sc) => t.scopes.includes(sc));
    const expired = t.expires_at !== null && t.expires_at <= d.now;
    return html`<tr data-token-id="${t.id}">
  <td class="name">${t.name}${expired ? html` <span class="badge expired">expired</span>` : ""}</td>
  <td><code>${t.prefix}…</code></td>
  <td class="scopes">${all ? "all" : t.scopes.length === 0 ? "none" : t.scopes.map((sc, i) => html`${i ? ", " : ""}<code>${sc}</code>`)}</td>
  <td>${timeTag(t.created_at)}</td>
  <td>${timeTag(t.expires_at, "never")}</td>
  <td>${timeTag(t.last_used_at, "never")}</td>
  <td class="actions">
    <details class="confirm">
      <summary class="button small danger">Revoke</summary>
      <form method="post" action="/account/tokens/${t.id}/revoke" class="confirm-box">
        ${csrfField(d.csrfToken)}
        <p>Revoke “${t.name}”? Programs using it stop working at once.</p>
        <button type="submit" class="button small danger">Revoke token</button>
      </form>
    </details>
  </td>
</tr>`;
  });
  const form = d.form ?? { name: "", expires: "", scopes: allowed };
  return html`<h1>Account</h1>
${tabs("tokens")}
${created}
<section class="panel">
  <div class="panel-head">
    <h2>API tokens</h2>
  </div>
  <p class="muted">Tokens let programs, scripts and the <code>sf</code> command line act as you (with your role: ${d.role === "admin" ? "administrator" : "user"}). Create one per program, so you can revoke one without the others.</p>
  <details class="create"${d.form ? html` open` : ""}>
    <summary class="button primary">Create token</summary>
    <form method="post" action="/account/tokens" class="form inline-form">
      ${csrfField(d.csrfToken)}
      <div>
        <label for="token-name">Name</label>
        <input id="token-name" name="name" type="text" required maxlength="100" placeholder="CI on build-01" value="${form.name}">
      </div>
      <div>
        <label for="token-expiry">Expires</label>
        <select id="token-expiry" name="expires_in_days">
          ${EXPIRY_CHOICES.map(([v, label]) => html`<option value="${v}"${form.expires === v ? html` selected` : ""}>${label}</option>`)}
        </select>
      </div>
      <fieldset class="scopes">
        <legend>Scopes</legend>
        <input type="hidden" name="scopes_offered" value="1">
        ${allowed.map(
          (sc) =>
            html`<label><input type="checkbox" name="scopes" value="${sc}"${form.scopes.includes(sc) ? html` checked` : ""}> <code>${sc}</code> <span class="muted small">${SCOPE_LABELS[sc]}</span></label>`,
        )}
      </fieldset>
      <div class="submit"><button type="submit" class="button primary">Create</button></div>
    </form>
  </details>
  ${
    d.tokens.length === 0
      ? html`<p class="empty">No tokens yet.</p>`
      : html`<table class="table" id="tokens">
    <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${rows}</tbody>
  </table>`
  }
</section>`;
}
