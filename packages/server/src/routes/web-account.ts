import { Router, type Request, type Response } from "express";
import { ApiError, ValidationFailed } from "../errors.js";
import * as tokens from "../services/tokens.js";
import * as users from "../services/users.js";
import * as sessions from "../services/sessions.js";
import { accountBody } from "../web/account-page.js";
import { tokensBody, type TokensPageData } from "../web/tokens-page.js";
import { isFormError, noticeOf, renderPage } from "./web-render.js";
import { formFields, formValues, text, uuidParam } from "./web-forms.js";
import { scopesForRole, type Scope } from "../policies/index.js";
import type { Role, Services } from "../services/context.js";
import { flashFor, requireSession, sessionOf, signedInForm, takeFlash } from "./web-session.js";
import type { LoginLimiters } from "./middleware.js";

const NOTICES = {
  password_changed: "Your password was changed. Every other browser of yours is signed out.",
  session_revoked: "That browser is signed out.",
  token_revoked: "The token was revoked. Programs using it get 401 from now on.",
};

async function sendAccount(s: Services, req: Request, res: Response, o: { error?: string; status?: number } = {}): Promise<void> {
  const session = sessionOf(req);
  const [me, list, usesPassword] = await Promise.all([users.getMe(s, session.principal), sessions.listSessions(s, session.principal), users.usesPassword(s, session.principal)]);
  renderPage(
    req,
    res,
    { title: "Account", section: "account", notice: noticeOf(req, NOTICES), error: o.error, body: accountBody({ me, sessions: list, csrfToken: session.csrfToken, usesPassword }) },
    o.status,
  );
}

async function sendTokens(s: Services, req: Request, res: Response, o: Pick<TokensPageData, "form"> & { error?: string; status?: number } = {}): Promise<void> {
  const session = sessionOf(req);
  // A token created by the form that redirected here: shown this once.
  const created = o.form ? [] : await takeFlash(s, req, "token_created");
  const list = await tokens.listTokens(s, session.principal);
  renderPage(
    req,
    res,
    {
      title: "API tokens",
      section: "account",
      notice: noticeOf(req, NOTICES),
      error: o.error,
      body: tokensBody({ tokens: list, csrfToken: session.csrfToken, role: session.user.role, now: s.clock().toISOString(), publicUrl: s.config.publicUrl, created, form: o.form }),
    },
    o.status,
  );
}

/**
 * The scopes ticked in the token form: none is a form error; every one the role allows means no
 * limit (the token follows the role, as tokens created before scopes could be chosen).
 */
function tokenScopesOfForm(ticked: string[], role: Role): Scope[] | undefined {
  const allowed = scopesForRole(role);
  const scopes = allowed.filter((sc) => ticked.includes(sc));
  if (ticked.some((t) => !(allowed as readonly string[]).includes(t))) throw new ValidationFailed("Choose scopes from the list.", "/body/scopes");
  if (scopes.length === 0) throw new ValidationFailed("Choose at least one scope.", "/body/scopes");
  return scopes.length === allowed.length ? undefined : scopes;
}

/** The Account page with the password form refused by the account's login limit (429). */
export function sendAccountLimited(s: Services, req: Request, res: Response, detail: string): Promise<void> {
  return sendAccount(s, req, res, { error: `${detail}.`, status: 429 });
}

/**
 * Account (profile, password, sessions) and Account → API tokens. A wrong current password counts
 * as a failed sign-in of the account (`login.currentPassword`, routes/middleware.ts).
 */
export function accountPages(s: Services, login: LoginLimiters): Router {
  const r = Router();

  r.get("/account", requireSession, (req, res) => sendAccount(s, req, res));

  r.post("/account/password", ...signedInForm(s), login.currentPassword, async (req, res) => {
    const f = formFields(req);
    try {
      if (f("new_password") !== f("confirm_password")) throw new ValidationFailed("The two new passwords differ.", "/body/confirm_password");
      await users.changePassword(s, sessionOf(req).principal, f("current_password"), f("new_password"));
      res.redirect(303, "/account?notice=password_changed");
    } catch (err) {
      // A wrong current password is the form's error here: the session itself is valid.
      const wrongPassword = err instanceof ApiError && err.code === "credentials_invalid";
      // The login limiter counts it as a failure of the account.
      if (wrongPassword) res.locals.errorCode = err.code;
      if (wrongPassword || isFormError(err)) {
        const message = (err as ApiError).message;
        return sendAccount(s, req, res, { error: message.endsWith(".") ? message : `${message}.`, status: 422 });
      }
      throw err;
    }
  });

  r.post("/account/sessions/:id/revoke", ...signedInForm(s), async (req, res) => {
    await sessions.revokeSession(s, sessionOf(req).principal, uuidParam(req, "id"));
    res.redirect(303, "/account?notice=session_revoked");
  });

  r.get("/account/tokens", requireSession, (req, res) => sendTokens(s, req, res));

  r.post("/account/tokens", ...signedInForm(s), async (req, res) => {
    const f = formFields(req);
    const form = { name: f("name"), expires: f("expires_in_days"), scopes: formValues(req, "scopes") };
    try {
      const name = text(form.name, "Name", 100);
      const days = form.expires === "" ? undefined : Number(form.expires);
      if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 3650)) {
        throw new ValidationFailed("Choose when the token expires.", "/body/expires_in_days");
      }
      // A form without the scope boxes (a script posting the old form) makes a token without a limit.
      const scopes = f("scopes_offered") === "" ? undefined : tokenScopesOfForm(form.scopes, sessionOf(req).user.role);
      const created = await tokens.createToken(s, sessionOf(req).principal, { name, ...(days ? { expires_in_days: days } : {}), ...(scopes ? { scopes } : {}) });
      // The raw token goes to the next page of this session only (sealed with it, shown once):
      // never in a URL or a log, and a reload of that page creates nothing.
      await flashFor(s, req, "token_created", created);
      res.redirect(303, "/account/tokens");
    } catch (err) {
      if (isFormError(err)) return sendTokens(s, req, res, { form, error: err.message, status: err.status });
      throw err;
    }
  });

  r.post("/account/tokens/:id/revoke", ...signedInForm(s), async (req, res) => {
    await tokens.revokeToken(s, sessionOf(req).principal, uuidParam(req, "id"));
    res.redirect(303, "/account/tokens?notice=token_revoked");
  });

  return r;
}
