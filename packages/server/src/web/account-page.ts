import type { components } from "../generated/api.js";
import { html, type SafeHtml } from "./html.js";
import { csrfField } from "./layout.js";
import { timeTag } from "./format.js";

type Schemas = components["schemas"];

/** A signed-in browser as the account page lists it (what services/sessions.ts listSessions answers). */
export interface SessionItem {
  id: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  client_address: string | null;
  user_agent: string | null;
  current: boolean;
}

export function tabs(active: "profile" | "tokens"): SafeHtml {
  const tab = (key: string, href: string, label: string) => html`<a href="${href}"${active === key ? html` aria-current="page"` : ""}>${label}</a>`;
  return html`<nav class="tabs" aria-label="Account">${tab("profile", "/account", "Profile and sign-in")}${tab("tokens", "/account/tokens", "API tokens")}</nav>`;
}

/** A browser as a person recognises it, from its user agent. */
function browserOf(ua: string | null): string {
  if (!ua) return "Unknown browser";
  if (/^curl\//.test(ua)) return "curl";
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrom(e|ium)\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Windows/.test(ua)
    ? "Windows"
    : /Mac OS X|Macintosh/.test(ua)
      ? "macOS"
      : /Android/.test(ua)
        ? "Android"
        : /iPhone|iPad/.test(ua)
          ? "iOS"
          : /Linux/.test(ua)
            ? "Linux"
            : "";
  return os ? `${browser} on ${os}` : browser;
}

export interface AccountPageData {
  me: Schemas["User"];
  sessions: SessionItem[];
  csrfToken: string;
  /** Whether the password form is shown: false when passwords are off or the account has none (single sign-on). */
  usesPassword: boolean;
}

const ssoOnly = html`<section class="panel">
  <h2 id="password">Password</h2>
  <p class="muted">You sign in through single sign-on: there is no password to change here.</p>
</section>`;

function passwordForm(d: AccountPageData): SafeHtml {
  return html`<section class="panel">
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
</section>`;
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
${d.usesPassword ? passwordForm(d) : ssoOnly}
<section class="panel">
  <h2>Where you are signed in</h2>
  <table class="table">
    <thead><tr><th scope="col">Browser</th><th scope="col">Address</th><th scope="col">Signed in</th><th scope="col">Last active</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${rows}</tbody>
  </table>
</section>`;
}
