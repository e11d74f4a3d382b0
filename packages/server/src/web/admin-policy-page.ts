import type { components } from "../generated/api.js";
import { html, type SafeHtml } from "./html.js";
import { csrfField } from "./layout.js";
import { timeTag } from "./format.js";
import { policyLimits, type LimitsData } from "./policy-limits.js";

type RuleName = components["schemas"]["PolicyRuleName"];
export type Policy = components["schemas"]["Policy"];

/** How a rule is typed in the form. */
export type RuleKind = "days" | "count" | "bytes" | "bool" | "domains";

/** The rules as the page shows them, in order: the form field of each is its name. */
export const POLICY_FORM_RULES: readonly { name: RuleName; label: string; kind: RuleKind; help: string }[] = [
  { name: "min_ttl_days", label: "Shortest link lifetime (days)", kind: "days", help: "A package's links live at least this many days." },
  { name: "max_ttl_days", label: "Longest link lifetime (days)", kind: "days", help: "At most this many days (below the server's own limit)." },
  { name: "require_password", label: "Password required", kind: "bool", help: "Packages sent need a link password." },
  { name: "require_encryption", label: "End-to-end encryption required", kind: "bool", help: "Every package is encrypted on the sender's machine (sf --encrypt)." },
  {
    name: "allowed_recipient_domains",
    label: "Recipients only at",
    kind: "domains",
    help: "One domain per line: acme.com is that domain only, *.acme.com its subdomains only.",
  },
  { name: "blocked_recipient_domains", label: "Never to recipients at", kind: "domains", help: "One domain per line, as above." },
  { name: "max_file_bytes", label: "Largest file", kind: "bytes", help: "A size such as 2 GiB, 500 MB or a number of bytes." },
  { name: "max_recipients", label: "Most recipients per package", kind: "count", help: "From 1 to 50." },
  {
    name: "quota_bytes_per_user",
    label: "Storage quota per user",
    kind: "bytes",
    help: "What each user may hold in draft and active packages (uploads under way included).",
  },
];

export const POLICY_ROLES = ["user", "admin"] as const;

/** What the form shows: each field's text as typed (`<rule>`, `user.<rule>`, `admin.<rule>`). */
export type PolicyFormValues = Record<string, string>;

export interface PolicyPageData {
  policy: Policy;
  csrfToken: string;
  form: PolicyFormValues;
  /** Refusals by field name (`max_ttl_days`, `user.min_ttl_days`, …), in words. */
  fieldErrors: Record<string, string>;
  /** What users of each role see before they hit a limit. */
  preview: Record<(typeof POLICY_ROLES)[number], LimitsData>;
}

/** A byte count as the form writes it: in the largest binary unit that divides it, else bytes. */
export function bytesField(n: number): string {
  for (const [unit, size] of [
    ["TiB", 1024 ** 4],
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return String(n);
}

/** A rule's value as the instance column's field holds it. */
export function fieldOfValue(kind: RuleKind, value: unknown): string {
  if (value === null || value === undefined) return "";
  if (kind === "bool") return value === true ? "1" : "";
  if (kind === "domains") return (value as string[]).join("\n");
  if (kind === "bytes") return bytesField(value as number);
  return String(value);
}

/** An override as a role's field holds it: "" same as everyone, "none" no rule, else the value ("on"/"off" for booleans). */
export function overrideFieldOfValue(kind: RuleKind, overrides: Record<string, unknown>, name: string): string {
  if (!Object.hasOwn(overrides, name)) return "";
  const v = overrides[name];
  if (kind === "bool") return v === true ? "on" : "off";
  if (v === null) return "none";
  return fieldOfValue(kind, v).replace(/\n/g, ", ");
}

/** The form's fields for the stored policy. */
export function policyFormValues(p: Policy): PolicyFormValues {
  const out: PolicyFormValues = {};
  for (const r of POLICY_FORM_RULES) {
    out[r.name] = fieldOfValue(r.kind, p.rules[r.name]);
    for (const role of POLICY_ROLES) out[`${role}.${r.name}`] = overrideFieldOfValue(r.kind, p.roles[role] as Record<string, unknown>, r.name);
  }
  return out;
}

function fieldError(d: PolicyPageData, field: string): SafeHtml | string {
  const message = d.fieldErrors[field];
  return message ? html`<p class="field-error" id="err-${field}">${message}</p>` : "";
}

const describedBy = (d: PolicyPageData, field: string) => (d.fieldErrors[field] ? html` aria-invalid="true" aria-describedby="err-${field}"` : "");

function instanceField(d: PolicyPageData, r: (typeof POLICY_FORM_RULES)[number]): SafeHtml {
  const v = d.form[r.name] ?? "";
  const id = `rule-${r.name}`;
  const a = describedBy(d, r.name);
  if (r.kind === "bool") return html`<input id="${id}" type="checkbox" name="${r.name}" value="1"${v === "1" ? html` checked` : ""}${a}>`;
  if (r.kind === "domains") return html`<textarea id="${id}" name="${r.name}" rows="3" maxlength="90000" placeholder="no rule"${a}>${v}</textarea>`;
  return html`<input id="${id}" type="text" name="${r.name}" value="${v}" placeholder="no rule" maxlength="40" ${a}>`;
}

function overrideField(d: PolicyPageData, r: (typeof POLICY_FORM_RULES)[number], role: string): SafeHtml {
  const field = `${role}.${r.name}`;
  const v = d.form[field] ?? "";
  const label = html`<span class="sr-only">${r.label} for the ${role} role</span>`;
  const a = describedBy(d, field);
  if (r.kind === "bool") {
    const opt = (value: string, text: string) => html`<option value="${value}"${v === value ? html` selected` : ""}>${text}</option>`;
    return html`<label>${label}<select name="${field}"${a}>${opt("", "as everyone")}${opt("on", "required")}${opt("off", "not required")}</select></label>`;
  }
  return html`<label>${label}<input type="text" name="${field}" value="${v}" placeholder="as everyone" maxlength="${r.kind === "domains" ? 90000 : 40}"${a}></label>`;
}

/** Admin → Policy: the instance's rules, each role's overrides, and what users see. */
export function policyBody(d: PolicyPageData): SafeHtml {
  const rows = POLICY_FORM_RULES.map(
    (r) => html`<tr data-rule="${r.name}">
  <th scope="row"><label for="rule-${r.name}">${r.label}</label><div class="muted small">${r.help}</div></th>
  <td>${instanceField(d, r)}${fieldError(d, r.name)}</td>
  ${POLICY_ROLES.map((role) => html`<td>${overrideField(d, r, role)}${fieldError(d, `${role}.${r.name}`)}</td>`)}
</tr>`,
  );
  const p = d.policy;
  return html`<div class="page-head"><h1>Policy</h1><a class="button" href="/admin/users">Users</a> <a class="button" href="/admin/trust-policies">Trust policies</a></div>
<section class="panel">
  <p class="muted">The rules every package and upload must follow, checked by the server whether it comes from the web, <code>sf</code> or the API.
  An empty field is no rule. A role's column replaces a rule for users of that role: empty means the same as everyone, <code>none</code> means no rule for them.
  Packages already sent keep their links; drafts are checked again when they are sent.</p>
  <p class="muted small" id="policy-updated">${p.updated_at ? html`Last changed ${timeTag(p.updated_at)}${p.updated_by ? html` by ${p.updated_by}` : ""}.` : "Never changed: no rule applies."}</p>
  <form method="post" action="/admin/policy" class="form" id="policy-form" novalidate>
    ${csrfField(d.csrfToken)}
    <table class="table policy">
      <thead><tr><th scope="col">Rule</th><th scope="col">Everyone</th><th scope="col">Users</th><th scope="col">Admins</th></tr></thead>
      <tbody>${rows}</tbody>
    </table>
    <button type="submit" class="button primary">Save policy</button>
  </form>
</section>
<section class="panel" id="policy-preview">
  <h2>What people see</h2>
  ${POLICY_ROLES.map((role) => html`<h3>${role === "user" ? "Users" : "Admins"}</h3>${policyLimits(d.preview[role], { upload: true, create: true }) ?? html`<p class="muted">No limits beyond the server's own.</p>`}`)}
</section>`;
}
