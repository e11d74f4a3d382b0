import { Router, type Request, type Response } from "express";
import { ValidationFailed } from "../errors.js";
import type { Services } from "../services/context.js";
import * as trust from "../services/trust-policies.js";
import { TRUST_EVENTS, TRUST_SCOPES, trustPoliciesBody, type TrustFormValues } from "../web/admin-trust-page.js";
import { isFormError, noticeOf, renderPage } from "./web-render.js";
import { choice, email, formFields, formValues, text, uuidParam, wholeNumber } from "./web-forms.js";
import { checkFormCsrf, formBody, requireAdmin, requireSession, sessionOf } from "./web-session.js";

const NOTICES = {
  created: "The trust policy was added. Pipelines that match it can exchange their ID token now.",
  deleted: "The trust policy was deleted; the tokens it minted stopped working.",
};

function defaults(s: Services): TrustFormValues {
  return {
    name: "",
    issuer: trust.GITHUB_ISSUER,
    audience: s.config.publicUrl,
    conditions: "repository_id=",
    user_email: "",
    scopes: ["packages:read", "packages:write"],
    token_ttl_seconds: String(trust.DEFAULT_TOKEN_TTL_SECONDS),
    allowed_events: [],
  };
}

/** `claim=value` lines (blank lines skipped) as the API's conditions object. */
function parseConditions(textValue: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = textValue
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
  if (lines.length > 20) throw new ValidationFailed("At most 20 conditions.", "/body/conditions");
  for (const line of lines) {
    const eq = line.indexOf("=");
    if (eq <= 0 || eq === line.length - 1) throw new ValidationFailed(`Each condition is claim=value (got "${line.slice(0, 100)}").`, "/body/conditions");
    const claim = line.slice(0, eq).trim();
    if (Object.hasOwn(out, claim)) throw new ValidationFailed(`The claim '${claim.slice(0, 100)}' is given twice.`, "/body/conditions");
    const value = line.slice(eq + 1).trim();
    if (value.length > 500) throw new ValidationFailed("A condition's value is at most 500 characters.", "/body/conditions");
    out[claim] = value;
  }
  return out;
}

async function sendTrust(s: Services, req: Request, res: Response, o: { form?: TrustFormValues; error?: string; status?: number } = {}) {
  const session = sessionOf(req);
  renderPage(
    req,
    res,
    {
      title: "Trust policies",
      section: "admin",
      notice: noticeOf(req, NOTICES),
      error: o.error,
      body: trustPoliciesBody({ policies: await trust.listTrustPolicies(s), csrfToken: session.csrfToken, form: o.form ?? defaults(s), open: o.form !== undefined }),
    },
    o.status,
  );
}

/** Admin → Trust policies (administrators only): list, add, delete. */
export function adminTrustPages(s: Services): Router {
  const r = Router();
  const adminForm = [requireSession, requireAdmin, formBody, checkFormCsrf(s)];

  r.get("/admin/trust-policies", requireSession, requireAdmin, (req, res) => sendTrust(s, req, res));

  r.post("/admin/trust-policies", ...adminForm, async (req, res) => {
    const f = formFields(req);
    const form: TrustFormValues = {
      name: f("name"),
      issuer: f("issuer"),
      audience: f("audience"),
      conditions: f("conditions"),
      user_email: f("user_email"),
      scopes: formValues(req, "scopes"),
      token_ttl_seconds: f("token_ttl_seconds"),
      allowed_events: formValues(req, "allowed_events"),
    };
    try {
      const scopes = form.scopes.map((x) => choice(x, "Scopes", TRUST_SCOPES));
      if (scopes.length === 0) throw new ValidationFailed("Choose at least one scope.", "/body/scopes");
      await trust.createTrustPolicy(
        s,
        sessionOf(req).principal,
        {
          name: text(form.name, "Name", 100),
          issuer: text(form.issuer, "Issuer", 500),
          audience: text(form.audience, "Audience", 500),
          conditions: parseConditions(form.conditions),
          user_email: email(form.user_email, "Email"),
          scopes,
          token_ttl_seconds: wholeNumber(form.token_ttl_seconds, "Lifetime", 60, 3600)!,
          allowed_events: form.allowed_events.map((e) => choice(e, "Event", TRUST_EVENTS)),
        },
        { address: req.ip, userAgent: req.get("user-agent") },
      );
      res.redirect(303, "/admin/trust-policies?notice=created");
    } catch (err) {
      if (isFormError(err)) return sendTrust(s, req, res, { form, error: err.message, status: err.status });
      throw err;
    }
  });

  r.post("/admin/trust-policies/:id/delete", ...adminForm, async (req, res) => {
    await trust.deleteTrustPolicy(s, sessionOf(req).principal, uuidParam(req, "id"), { address: req.ip, userAgent: req.get("user-agent") });
    res.redirect(303, "/admin/trust-policies?notice=deleted");
  });

  return r;
}
