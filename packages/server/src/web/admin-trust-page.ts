import type { components } from "../generated/api.js";
import { html, type SafeHtml } from "./html.js";
import { csrfField } from "./layout.js";
import { timeTag } from "./format.js";

type TrustPolicy = components["schemas"]["TrustPolicy"];

/** The scopes a trust policy may grant (never `admin` or `tokens:write`), and the events a policy may opt in to. */
export const TRUST_SCOPES = ["packages:read", "packages:write", "webhooks:read", "webhooks:write"] as const;
export const TRUST_EVENTS = ["pull_request_target", "workflow_run"] as const;

export interface TrustFormValues {
  name: string;
  issuer: string;
  audience: string;
  conditions: string;
  user_email: string;
  scopes: string[];
  token_ttl_seconds: string;
  allowed_events: string[];
}

export interface TrustPageData {
  policies: TrustPolicy[];
  csrfToken: string;
  /** What the create form shows: defaults, or what was typed when it was refused. */
  form: TrustFormValues;
  /** Whether the form starts open (after a refusal). */
  open: boolean;
}

const checked = (on: boolean) => (on ? html` checked` : "");

/** Admin → Trust policies: which CI pipelines may exchange their OIDC identity for a token. */
export function trustPoliciesBody(d: TrustPageData): SafeHtml {
  const f = d.form;
  const rows = d.policies.map(
    (p) => html`<tr data-policy-id="${p.id}">
  <td class="name">${p.name}<div class="muted small">${p.issuer}</div><div class="muted small">aud: ${p.audience}</div></td>
  <td><ul class="plain">${Object.entries(p.conditions).map(([claim, value]) => html`<li><code>${claim}</code> = <code>${value}</code></li>`)}</ul></td>
  <td>${p.user_email}<div class="muted small">${p.scopes.join(", ")} · ${Math.round(p.token_ttl_seconds / 60)} min${p.allowed_events.length > 0 ? ` · also ${p.allowed_events.join(", ")}` : ""}</div></td>
  <td>${timeTag(p.created_at)}</td>
  <td class="actions"><form method="post" action="/admin/trust-policies/${p.id}/delete">${csrfField(d.csrfToken)}<button type="submit" class="button small danger">Delete</button></form></td>
</tr>`,
  );
  return html`<div class="page-head"><h1>Trust policies</h1><a class="button" href="/admin/users">Users</a> <a class="button" href="/admin/policy">Policy</a></div>
<section class="panel">
  <p class="muted">A CI pipeline whose OpenID Connect ID token comes from the issuer, names the audience and meets every
  condition may exchange it at <code>POST /api/v1/auth/oidc</code> for a short-lived token acting for the user, with no
  stored secret. Condition values are exact, or globs: <code>*</code> matches any run of characters except <code>/</code>,
  <code>**</code> any run. A GitHub Actions policy must pin <code>repository_id</code> or <code>repository_owner_id</code>.</p>
  <details class="create"${d.open ? html` open` : ""}>
    <summary class="button primary">Add trust policy</summary>
    <form method="post" action="/admin/trust-policies" class="form">
      ${csrfField(d.csrfToken)}
      <div class="two">
        <div><label for="tp-name">Name</label><input id="tp-name" name="name" type="text" required maxlength="100" value="${f.name}"></div>
        <div><label for="tp-user">Acts for (user's email)</label><input id="tp-user" name="user_email" type="email" required maxlength="254" value="${f.user_email}"></div>
      </div>
      <div class="two">
        <div><label for="tp-issuer">Issuer</label><input id="tp-issuer" name="issuer" type="url" required maxlength="500" value="${f.issuer}"></div>
        <div><label for="tp-audience">Audience</label><input id="tp-audience" name="audience" type="text" required maxlength="500" value="${f.audience}"></div>
      </div>
      <label for="tp-conditions">Conditions <span class="muted">(one <code>claim=value</code> per line)</span></label>
      <textarea id="tp-conditions" name="conditions" rows="4" required maxlength="10000" placeholder="repository_id=123456789&#10;ref=refs/heads/main">${f.conditions}</textarea>
      <fieldset><legend>Scopes</legend>
        ${TRUST_SCOPES.map((s) => html`<label class="check"><input type="checkbox" name="scopes" value="${s}"${checked(f.scopes.includes(s))}> ${s}</label>`)}
      </fieldset>
      <div class="two">
        <div><label for="tp-ttl">Token lifetime in seconds <span class="muted">(60–3600)</span></label><input id="tp-ttl" name="token_ttl_seconds" type="number" min="60" max="3600" required value="${f.token_ttl_seconds}"></div>
        <fieldset><legend>Also accept these events <span class="muted">(refused by default)</span></legend>
          ${TRUST_EVENTS.map((e) => html`<label class="check"><input type="checkbox" name="allowed_events" value="${e}"${checked(f.allowed_events.includes(e))}> ${e}</label>`)}
        </fieldset>
      </div>
      <button type="submit" class="button primary">Add trust policy</button>
    </form>
  </details>
  <table class="table" id="trust-policies">
    <thead><tr><th scope="col">Policy</th><th scope="col">Conditions</th><th scope="col">Token</th><th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${rows}</tbody>
  </table>
  ${d.policies.length === 0 ? html`<p class="muted">No trust policies yet: no pipeline can sign in without a stored token.</p>` : ""}
</section>`;
}
