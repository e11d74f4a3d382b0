import type { components } from "../generated/api.js";
import { html, type SafeHtml } from "./html.js";
import { csrfField } from "./layout.js";
import { plural, timeTag } from "./format.js";

type Schemas = components["schemas"];

export interface UsersPageData {
  list: Schemas["UserList"];
  q: string;
  selfId: string;
  csrfToken: string;
  form?: { email: string; name: string; role: string } | undefined;
  /** Passwords are on (SF_PASSWORD_LOGIN): each user row offers "Force password reset". */
  passwordLogin?: boolean | undefined;
}

/**
 * "Force password reset" behind a confirmation: the password stops working, the user's sessions
 * end (their API tokens too when ticked) and they are emailed a link to choose a new one.
 */
function forceResetForm(u: Schemas["User"], csrfToken: string): SafeHtml {
  return html`<details class="confirm">
  <summary class="button small">Force password reset</summary>
  <form method="post" action="/admin/users/${u.id}/password-reset" class="confirm-box">${csrfField(csrfToken)}
    <p class="small">${u.email}'s password stops working now and they are signed out everywhere; they get an email with a link to choose a new one.</p>
    <label class="small"><input type="checkbox" name="revoke_tokens" value="true"> Also revoke their API tokens</label>
    <button type="submit" class="button small danger">Force password reset</button>
  </form>
</details>`;
}

/** Admin → Users: search, add a user, change a role, disable or enable, force a password reset. */
export function usersBody(d: UsersPageData): SafeHtml {
  const { items, total, page, per_page } = d.list;
  const pages = Math.max(1, Math.ceil(total / per_page));
  const pageUrl = (n: number) => `/admin/users?${new URLSearchParams({ ...(d.q ? { q: d.q } : {}), page: String(n) }).toString()}`;
  const form = d.form ?? { email: "", name: "", role: "user" };
  const rows = items.map((u) => {
    const self = u.id === d.selfId;
    const roleForm = self
      ? html`${u.role === "admin" ? "Administrator" : "User"} <span class="muted small">(you)</span>`
      : html`<form method="post" action="/admin/users/${u.id}/role" class="inline">${csrfField(d.csrfToken)}
      <label class="sr-only" for="role-${u.id}">Role of ${u.email}</label>
      <select id="role-${u.id}" name="role">
        <option value="user"${u.role === "user" ? html` selected` : ""}>User</option>
        <option value="admin"${u.role === "admin" ? html` selected` : ""}>Administrator</option>
      </select>
      <button type="submit" class="button small">Save</button>
    </form>`;
    const toggle = self
      ? ""
      : html`<form method="post" action="/admin/users/${u.id}/${u.disabled ? "enable" : "disable"}">${csrfField(d.csrfToken)}<button type="submit" class="button small${u.disabled ? "" : " danger"}">${u.disabled ? "Enable" : "Disable"}</button></form>`;
    return html`<tr data-user-id="${u.id}">
  <td class="name">${u.name}<div class="muted small">${u.email}</div></td>
  <td>${roleForm}</td>
  <td>${u.disabled ? html`<span class="badge revoked">disabled</span>` : html`<span class="badge active">active</span>`}</td>
  <td>${timeTag(u.created_at)}</td>
  <td class="actions">${toggle}${self || !d.passwordLogin ? "" : forceResetForm(u, d.csrfToken)}</td>
</tr>`;
  });
  return html`<div class="page-head"><h1>Users</h1><a class="button" href="/admin/policy">Policy</a> <a class="button" href="/admin/trust-policies">Trust policies</a> <a class="button" href="/admin/audit.csv" download>Export the audit trail as CSV</a></div>
<section class="panel">
  <details class="create"${d.form ? html` open` : ""}>
    <summary class="button primary">Add user</summary>
    <form method="post" action="/admin/users" class="form">
      ${csrfField(d.csrfToken)}
      <div class="two">
        <div><label for="new-email">Email</label><input id="new-email" name="email" type="email" required maxlength="254" value="${form.email}"></div>
        <div><label for="new-name">Name</label><input id="new-name" name="name" type="text" maxlength="200" value="${form.name}"></div>
      </div>
      <div class="two">
        <div><label for="new-password">Password <span class="muted">(at least 8 characters; tell them to change it)</span></label><input id="new-password" name="password" type="password" autocomplete="new-password" required minlength="8" maxlength="1024"></div>
        <div><label for="new-role">Role</label><select id="new-role" name="role"><option value="user"${form.role !== "admin" ? html` selected` : ""}>User</option><option value="admin"${form.role === "admin" ? html` selected` : ""}>Administrator</option></select></div>
      </div>
      <button type="submit" class="button primary">Add user</button>
    </form>
  </details>
  <form method="get" action="/admin/users" class="filters" role="search">
    <label class="sr-only" for="q">Search users</label>
    <input id="q" name="q" type="search" maxlength="200" placeholder="Search name or email" value="${d.q}">
    <button type="submit" class="button">Search</button>
  </form>
  <table class="table" id="users">
    <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${rows}</tbody>
  </table>
  <nav class="pager" aria-label="Pages">
    <span class="muted">${plural(total, "user")} · page ${page} of ${pages}</span>
    ${page > 1 ? html`<a class="button small" href="${pageUrl(page - 1)}" rel="prev">Previous</a>` : ""}
    ${page < pages ? html`<a class="button small" href="${pageUrl(page + 1)}" rel="next">Next</a>` : ""}
  </nav>
</section>`;
}
