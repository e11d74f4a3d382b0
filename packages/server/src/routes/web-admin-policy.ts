import { Router, type Request, type Response } from "express";
import type { Services } from "../services/context.js";
import * as policy from "../services/policy.js";
import { POLICY_FORM_RULES, POLICY_ROLES, policyBody, policyFormValues, type PolicyFormValues } from "../web/admin-policy-page.js";
import { isFormError, noticeOf, renderPage } from "./web-render.js";
import { formFields } from "./web-forms.js";
import { checkFormCsrf, formBody, requireAdmin, requireSession, sessionOf } from "./web-session.js";
import { fieldOfPath, policyUpdateOf } from "./web-policy-form.js";

const NOTICES = { saved: "The policy was saved. It applies to what is created, changed or sent from now on." };

async function sendPolicy(
  s: Services,
  req: Request,
  res: Response,
  o: { form?: PolicyFormValues; fieldErrors?: Record<string, string>; error?: string; status?: number } = {},
): Promise<void> {
  const current = await policy.getPolicy(s);
  renderPage(
    req,
    res,
    {
      title: "Policy",
      section: "admin",
      notice: noticeOf(req, NOTICES),
      error: o.error,
      body: policyBody({
        policy: current,
        csrfToken: sessionOf(req).csrfToken,
        form: o.form ?? policyFormValues(current),
        fieldErrors: o.fieldErrors ?? {},
        preview: await policy.roleLimits(s),
      }),
    },
    o.status,
  );
}

/** Each refusal next to its field (a problem no field owns goes in the message at the top). */
function byField(errors: { path: string; message: string }[]): { fieldErrors: Record<string, string>; rest: string[] } {
  const fieldErrors: Record<string, string> = {};
  const rest: string[] = [];
  for (const e of errors) {
    const field = fieldOfPath(e.path);
    if (field && fieldErrors[field] === undefined) fieldErrors[field] = e.message;
    else if (!field) rest.push(e.message);
  }
  return { fieldErrors, rest };
}

/** Admin → Policy (administrators only): the instance's rules and each role's overrides, one form. */
export function adminPolicyPages(s: Services): Router {
  const r = Router();

  r.get("/admin/policy", requireSession, requireAdmin, (req, res) => sendPolicy(s, req, res));

  r.post("/admin/policy", requireSession, requireAdmin, formBody, checkFormCsrf(s), async (req, res) => {
    const f = formFields(req);
    const form: PolicyFormValues = {};
    for (const rule of POLICY_FORM_RULES) {
      form[rule.name] = f(rule.name);
      for (const role of POLICY_ROLES) form[`${role}.${rule.name}`] = f(`${role}.${rule.name}`);
    }
    const refuse = (errors: { path: string; message: string }[], status: number) => {
      const { fieldErrors, rest } = byField(errors);
      const error = ["The policy was not saved: correct the fields marked below.", ...rest].join(" ");
      return sendPolicy(s, req, res, { form, fieldErrors, error, status });
    };
    const parsed = policyUpdateOf(form);
    if (parsed.errors.length > 0) return refuse(parsed.errors, 422);
    try {
      await policy.putPolicy(s, sessionOf(req).principal, parsed.body, { address: req.ip, userAgent: req.get("user-agent") });
      res.redirect(303, "/admin/policy?notice=saved");
    } catch (err) {
      if (isFormError(err)) return refuse(err.errors ?? [{ path: "/body", message: err.message }], err.status);
      throw err;
    }
  });

  return r;
}
