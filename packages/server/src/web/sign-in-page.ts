import { html, type SafeHtml } from "./html.js";

export interface SignInPageData {
  /** The sign-in form's own CSRF token (double-submitted with its cookie). */
  csrfToken: string;
  /** Where to go after signing in (already checked to be a path on this server). */
  next: string | null;
  email?: string | undefined;
  /** Offer "Forgot your password?" (not when password sign-in is turned off). */
  forgotPassword?: boolean | undefined;
}

/** The sign-in form: email and password, nothing else. */
export function signInBody(d: SignInPageData): SafeHtml {
  return html`<section class="panel narrow auth">
  <h1>Sign in</h1>
  <form method="post" action="/login" class="form">
    <input type="hidden" name="_csrf" value="${d.csrfToken}">
    ${d.next ? html`<input type="hidden" name="next" value="${d.next}">` : ""}
    <label for="email">Email</label>
    <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" value="${d.email ?? ""}" ${d.email ? "" : html`autofocus`}>
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024" ${d.email ? html`autofocus` : ""}>
    <button type="submit" class="button primary">Sign in</button>
  </form>
  ${d.forgotPassword ? html`<p class="small"><a href="/forgot-password">Forgot your password?</a></p>` : ""}
  <p class="muted small">Programs and the <code>sf</code> command line use API tokens: sign in, then Account → API tokens.</p>
</section>`;
}
