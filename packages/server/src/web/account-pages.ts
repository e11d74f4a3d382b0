import type { components } from "@speedyfiles/api-types";
import type { SessionView } from "../services/sessions.js";
import { html, type SafeHtml } from "./html.js";
import { csrfField } from "./layout.js";
import { timeTag } from "./format.js";

type Schemas = components["schemas"];

function tabs(active: "profile" | "tokens"): SafeHtml {
  const tab = (key: string, href: string, label: string) =>
    html`<a href="${href}"${active === key ? html` aria-current="page"` : ""}>${label}</a>`;
  return html`<nav class="tabs" aria-label="Account">${tab("profile", "/account", "Profile and sign-in")}${tab("tokens", "/account/tokens", "API tokens")}</nav>`;
}

/** A browser as a person recognises it, from its user agent. */
function browserOf(ua: string | null): string {
  if (!ua) return "Unknown browser";
  if (/^curl\//.test(ua)) return "curl";
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrom(e|ium)\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Windows/.test(ua) ? "Windows" : /Mac OS X|Macintosh/.test(ua) ? "macOS" : /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

export interface AccountPageData {
  me: Schemas["User"];
  sessions: SessionView[];
  csrfToken: string;
}

/** Account: who you are, your password, where you are signed in. */
export function accountBody(d: AccountPageData): SafeHtml {
  const rows = d.sessions.map(
    (x) => html`<tr>
  <td>${browserOf(x.user_agent)}${x.current ? html` <span class="badge active">this browser</span>` : ""}</td>
  <td>${x.client_address ?? "—"}</td>
  <td>${timeTag(x.created_at)}</td>
  <td>${timeTag(x.last_seen_at)}</td>
  <td class="actions">${
    x.current
      ? ""
      : html`<form method="post" action="/account/sessions/${x.id}/revoke">${csrfField(d.csrfToken)}<button type="submit" class="button small">Sign out</button></form>`
  }</td>
</tr>`,
  );
  return html`<h1>Account</h1>
${tabs("profile")}
<section class="panel">
  <h2>Profile</h2>
  <dl class="facts">
    <dt>Name</dt><dd>${d.me.name}</dd>
    <dt>Email</dt><dd>${d.me.email}</dd>
    <dt>Role</dt><dd>${d.me.role === "admin" ? "Administrator" : "User"}</dd>
    <dt>Member since</dt><dd>${timeTag(d.me.created_at)}</dd>
  </dl>
</section>
<section class="panel">
  <h2 id="password">Change password</h2>
  <form method="post" action="/account/password" class="form narrow-form">
    ${csrfField(d.csrfToken)}
    <input type="email" name="username" autocomplete="username" value="${d.me.email}" hidden readonly>
    <label for="current_password">Current password</label>
    <input id="current_password" name="current_password" type="password" autocomplete="current-password" required maxlength="1024">
    <label for="new_password">New password <span class="muted">(at least 8 characters)</span></label>
    <input id="new_password" name="new_password" type="password" autocomplete="new-password" required minlength="8" maxlength="1024">
    <label for="confirm_password">New password again</label>
    <input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required minlength="8" maxlength="1024">
    <p class="muted small">Changing it signs you out everywhere else. API tokens keep working; revoke them under API tokens.</p>
    <button type="submit" class="button primary">Change password</button>
  </form>
</section>
<section class="panel">
  <h2>Where you are signed in</h2>
  <table class="table">
    <thead><tr><th scope="col">Browser</th><th scope="col">Address</th><th scope="col">Signed in</th><th scope="col">Last active</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${rows}</tbody>
  </table>
</section>`;
}

export interface TokensPageData {
  tokens: Schemas["Token"][];
  csrfToken: string;
  role: "user" | "admin";
  now: string;
  /** A token just created: shown this once. */
  created?: Schemas["TokenCreated"] | undefined;
  /** The create form again, after an error. */
  form?: { name: string; expires: string } | undefined;
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
  const created = d.created
    ? html`<section class="panel secret-once" aria-labelledby="created-heading">
  <h2 id="created-heading">Your new token “${d.created.name}”</h2>
  <p class="warn"><strong>Copy it now.</strong> It is shown only this once and never again: SpeedyFiles keeps only a hash of it.</p>
  <div class="copy-row">
    <input id="new-token" class="mono" type="text" readonly value="${d.created.token}" aria-label="New API token" data-autoselect>
    <button type="button" class="button primary" data-copy="new-token">Copy</button>
  </div>
  <p class="muted small copy-status" role="status" aria-live="polite"></p>
  <p class="small">Use it as <code>Authorization: Bearer ${d.created.prefix}…</code>, or <code>sf login --token</code>.</p>
</section>`
    : "";
  const rows = d.tokens.map((t) => {
    const expired = t.expires_at !== null && t.expires_at <= d.now;
    return html`<tr data-token-id="${t.id}">
  <td class="name">${t.name}${expired ? html` <span class="badge expired">expired</span>` : ""}</td>
  <td><code>${t.prefix}…</code></td>
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
  const form = d.form ?? { name: "", expires: "" };
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
      <div class="submit"><button type="submit" class="button primary">Create</button></div>
    </form>
  </details>
  ${
    d.tokens.length === 0
      ? html`<p class="empty">No tokens yet.</p>`
      : html`<table class="table" id="tokens">
    <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${rows}</tbody>
  </table>`
  }
</section>`;
}
