import { Router, type Request, type Response } from "express";
import { ValidationFailed } from "../errors.js";
import type { Services } from "../services/context.js";
import * as users from "../services/users.js";
import { forcePasswordReset } from "../services/password-reset.js";
import * as audit from "../services/audit-export.js";
import { sendEventStream } from "../http/event-stream.js";
import { usersBody, type UsersPageData } from "../web/admin-users-page.js";
import { isFormError, noticeOf, renderPage } from "./web-render.js";
import { choice, email, formFields, text, uuidParam } from "./web-forms.js";
import { checkFormCsrf, formBody, requireAdmin, requireSession, sessionOf } from "./web-session.js";

const NOTICES = {
  created: "The user was added. They sign in with the password you chose.",
  role_changed: "The role was changed; it applies to their next request.",
  disabled: "The user is disabled: signed out everywhere, tokens and links stopped.",
  enabled: "The user is enabled again.",
  password_reset_forced: "The user's password no longer works and they are signed out everywhere; unless they are disabled, a link to choose a new one is on its way to them.",
};

const PER_PAGE = 50;

async function sendUsers(s: Services, req: Request, res: Response, o: Pick<UsersPageData, "form"> & { error?: string; status?: number } = {}) {
  const session = sessionOf(req);
  const q = (typeof req.query.q === "string" ? req.query.q : "").slice(0, 200);
  const pageRaw = typeof req.query.page === "string" ? req.query.page : "";
  const page = /^\d{1,6}$/.test(pageRaw) && Number(pageRaw) >= 1 ? Number(pageRaw) : 1;
  const list = await users.listUsers(s, { page, perPage: PER_PAGE, q: q.trim() || undefined });
  renderPage(
    req,
    res,
    {
      title: "Users",
      section: "admin",
      notice: noticeOf(req, NOTICES),
      error: o.error,
      body: usersBody({ list, q, selfId: session.user.id, csrfToken: session.csrfToken, form: o.form, passwordLogin: s.config.passwordLogin }),
    },
    o.status,
  );
}

/** Admin (administrators only; anyone else gets the 403 page): users, and the audit trail's CSV export. */
export function adminPages(s: Services): Router {
  const r = Router();
  const adminForm = [requireSession, requireAdmin, formBody, checkFormCsrf(s)];

  r.get("/admin", requireSession, requireAdmin, (_req, res) => res.redirect(303, "/admin/users"));
  r.get("/admin/users", requireSession, requireAdmin, (req, res) => sendUsers(s, req, res));
  // The whole audit trail as one CSV file (the API's export; filters: GET /api/v1/admin/events).
  r.get("/admin/audit.csv", requireSession, requireAdmin, async (req, res) => {
    await sendEventStream(req, res, "csv", await audit.exportAdminEvents(s, {}), req.log ?? s.logger);
  });

  r.post("/admin/users", ...adminForm, async (req, res) => {
    const f = formFields(req);
    const form = { email: f("email"), name: f("name"), role: f("role") };
    try {
      const password = f("password");
      if (password.length < users.PASSWORD_LENGTH.min || password.length > users.PASSWORD_LENGTH.max) {
        throw new ValidationFailed(`The password must be ${users.PASSWORD_LENGTH.min} to ${users.PASSWORD_LENGTH.max} characters long.`, "/body/password");
      }
      const name = text(form.name, "Name", 200, { optional: true });
      await users.createUser(
        s,
        {
          email: email(form.email, "Email"),
          name: name ?? "",
          password,
          role: choice(form.role, "Role", ["user", "admin"] as const),
        },
        sessionOf(req).principal,
      );
      res.redirect(303, "/admin/users?notice=created");
    } catch (err) {
      if (isFormError(err)) return sendUsers(s, req, res, { form, error: err.message, status: err.status });
      throw err;
    }
  });

  const update = (path: string, patch: (req: Request) => { role?: "user" | "admin"; disabled?: boolean }, notice: keyof typeof NOTICES) =>
    r.post(`/admin/users/:id/${path}`, ...adminForm, async (req, res) => {
      try {
        await users.updateUser(s, sessionOf(req).principal, uuidParam(req, "id"), patch(req));
        res.redirect(303, `/admin/users?notice=${notice}`);
      } catch (err) {
        if (isFormError(err)) return sendUsers(s, req, res, { error: err.message, status: err.status });
        throw err;
      }
    });
  update("role", (req) => ({ role: choice(formFields(req)("role"), "Role", ["user", "admin"] as const) }), "role_changed");
  update("disable", () => ({ disabled: true }), "disabled");
  update("enable", () => ({ disabled: false }), "enabled");

  r.post("/admin/users/:id/password-reset", ...adminForm, async (req, res) => {
    try {
      const revokeTokens = formFields(req)("revoke_tokens") === "true";
      await forcePasswordReset(s, sessionOf(req).principal, uuidParam(req, "id"), { revoke_tokens: revokeTokens }, { address: req.ip, userAgent: req.get("user-agent") });
      res.redirect(303, "/admin/users?notice=password_reset_forced");
    } catch (err) {
      if (isFormError(err)) return sendUsers(s, req, res, { error: err.message, status: err.status });
      throw err;
    }
  });

  return r;
}
