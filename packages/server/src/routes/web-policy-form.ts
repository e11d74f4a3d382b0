import type { components } from "../generated/api.js";
import type { FieldError } from "../errors.js";
import { POLICY_FORM_RULES, POLICY_ROLES, type PolicyFormValues, type RuleKind } from "../web/admin-policy-page.js";

/**
 * Reading Admin → Policy's form into the API's `PolicyUpdateRequest`, with the checks openapi.yaml
 * makes of that body (the pages skip the validator): every field's problem, in words, at its path.
 */

type PolicyUpdate = components["schemas"]["PolicyUpdateRequest"];
type Rules = components["schemas"]["PolicyRules"];

// The spec's DomainList item.
const DOMAIN = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const MAX_DOMAINS = 500;

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

class FieldProblem extends Error {}

function whole(text: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max) throw new FieldProblem(`Give a whole number from ${min} to ${max}.`);
  return Number(text);
}

/** "2 GiB", "500 MB", "1.5GiB", "1000": bytes. */
export function parseSize(text: string, min: number): number {
  const m = /^(\d{1,15}(?:\.\d{1,6})?)\s*([kmgt]i?b|b)?$/i.exec(text);
  if (!m) throw new FieldProblem("Give a size such as 2 GiB, 500 MB or a number of bytes.");
  const bytes = Math.round(Number(m[1]) * UNITS[(m[2] ?? "b").toLowerCase()]!);
  if (!Number.isSafeInteger(bytes) || bytes < min) throw new FieldProblem(min > 0 ? "Give a size of at least 1 byte." : "Give a size of 0 or more.");
  return bytes;
}

function domains(text: string): string[] {
  const list = text.split(/[\s,]+/).filter((d) => d !== "");
  if (list.length === 0) throw new FieldProblem("List at least one domain, or leave the field empty for no rule.");
  if (list.length > MAX_DOMAINS) throw new FieldProblem(`At most ${MAX_DOMAINS} domains.`);
  for (const d of list) {
    if (d.length > 253 || !DOMAIN.test(d)) {
      throw new FieldProblem(`"${d.slice(0, 80)}" is not a domain: write acme.com, or *.acme.com for its subdomains (international names in their xn-- form).`);
    }
  }
  return [...new Set(list.map((d) => d.toLowerCase()))];
}

function ruleValue(kind: RuleKind, name: string, text: string): unknown {
  if (kind === "days") return whole(text, 1, 365);
  if (kind === "count") return whole(text, 1, 50);
  if (kind === "bytes") return parseSize(text, name === "quota_bytes_per_user" ? 0 : 1);
  if (kind === "domains") return domains(text);
  return text === "1";
}

/** The body the form asks for, or every problem with it (paths as the API's: /body/<rule>, /body/roles/<role>/<rule>). */
export function policyUpdateOf(form: PolicyFormValues): { body: PolicyUpdate; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const body: Record<string, unknown> = {};
  const roles: Record<string, Record<string, unknown>> = { user: {}, admin: {} };
  const attempt = (path: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof FieldProblem)) throw err;
      errors.push({ path, message: err.message });
    }
  };
  for (const r of POLICY_FORM_RULES) {
    const text = (form[r.name] ?? "").trim();
    attempt(`/body/${r.name}`, () => {
      body[r.name] = r.kind === "bool" ? text === "1" : text === "" ? null : ruleValue(r.kind, r.name, text);
    });
    for (const role of POLICY_ROLES) {
      const o = (form[`${role}.${r.name}`] ?? "").trim();
      if (o === "") continue;
      attempt(`/body/roles/${role}/${r.name}`, () => {
        if (r.kind === "bool") {
          if (o !== "on" && o !== "off") throw new FieldProblem("Choose required, not required, or the same as everyone.");
          roles[role]![r.name] = o === "on";
        } else {
          roles[role]![r.name] = o.toLowerCase() === "none" ? null : ruleValue(r.kind, r.name, o);
        }
      });
    }
  }
  return { body: { ...(body as Rules), roles: roles as PolicyUpdate["roles"] }, errors };
}

/** The form field an error's path is about (`/body/roles/user/min_ttl_days` → `user.min_ttl_days`), if any. */
export function fieldOfPath(path: string): string | undefined {
  const roleMatch = /^\/body\/roles\/(user|admin)\/([a-z_]+)/.exec(path);
  if (roleMatch) return `${roleMatch[1]}.${roleMatch[2]}`;
  const m = /^\/body\/([a-z_]+)/.exec(path);
  return m && POLICY_FORM_RULES.some((r) => r.name === m[1]) ? m[1] : undefined;
}
