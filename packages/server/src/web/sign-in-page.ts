import { html, type SafeHtml } from "./html.js";

export interface SignInPageData {
  /** The sign-in form's own CSRF token (double-submitted with its cookie). */
  csrfToken: string;
  /** Where to go after signing in (already checked to be a path on this server). */
  next: string | null;
  email?: string | undefined;
  /** The single sign-on button's label; null: single sign-on is off. */
  sso: string | null;
  /** Whether the email and password form is shown (SF_PASSWORD_LOGIN). */
  passwordLogin: boolean;
}

function ssoButton(label: string, next: string | null, primary: boolean): SafeHtml {
  const href = next ? `/login/sso?${new URLSearchParams({ next }).toString()}` : "/login/sso";
  return html`<p class="sso"><a class="button${primary ? " primary" : ""} sso-button" href="${href}">${label}</a></p>`;
}

/**
 * The sign-in page: the single sign-on button when it is set up, and the email and password form
 * unless password sign-in is turned off.
 */
export function signInBody(d: SignInPageData): SafeHtml {
  const form = html`<form method="post" action="/login" class="form">
    <input type="hidden" name="_csrf" value="${d.csrfToken}">
    ${d.next ? html`<input type="hidden" name="next" value="${d.next}">` : ""}
    <label for="email">Email</label>
    <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" value="${d.email ?? ""}" ${d.email ? "" : html`autofocus`}>
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024" ${d.email ? html`autofocus` : ""}>
    <button type="submit" class="button primary">Sign in</button>
  </form>`;
  return html`<section class="panel narrow auth">
  <h1>Sign in</h1>
  ${d.sso !== null ? ssoButton(d.sso, d.next, !d.passwordLogin) : ""}
  ${d.sso !== null && d.passwordLogin ? html`<p class="muted small or">or with your email and password</p>` : ""}
  ${d.passwordLogin ? form : ""}
  ${d.passwordLogin ? html`<p class="small"><a href="/forgot-password">Forgot your password?</a></p>` : ""}
  <p class="muted small">Programs and the <code>sf</code> command line use API tokens: sign in, then Account → API tokens.</p>
</section>`;
}

/** After signing out of a single sign-on session: on to the provider to end its session too. */
export function providerSignOutBody(url: string): SafeHtml {
  return html`<section class="panel narrow auth">
  <h1>You are signed out</h1>
  <p>Signing you out of your identity provider as well…</p>
  <p><a class="button primary" href="${url}">Continue to the identity provider</a></p>
</section>`;
}

/** Why a single sign-on did not sign you in, and the way back to the sign-in page. */
export function ssoFailedBody(detail: string): SafeHtml {
  return html`<section class="panel narrow auth">
  <h1>Single sign-on did not work</h1>
  <p class="sso-failure">${detail}</p>
  <p><a class="button" href="/login">Back to sign in</a></p>
</section>`;
}
