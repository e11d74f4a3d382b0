import { html, type SafeHtml } from "./html.js";

export interface ForgotPasswordPageData {
  /** The form's own CSRF token (double-submitted with its cookie: nobody is signed in). */
  csrfToken: string;
  email?: string | undefined;
}

/** "Forgot your password?": one email field; the answer is the same whatever the address. */
export function forgotPasswordBody(d: ForgotPasswordPageData): SafeHtml {
  return html`<section class="panel narrow auth">
  <h1>Forgot your password?</h1>
  <p>Enter the email address you sign in with. If it has an account, we email it a link to choose a new password.</p>
  <form method="post" action="/forgot-password" class="form">
    <input type="hidden" name="_csrf" value="${d.csrfToken}">
    <label for="email">Email</label>
    <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" value="${d.email ?? ""}" autofocus>
    <button type="submit" class="button primary">Email me a link</button>
  </form>
  <p class="muted small"><a href="/login">Back to sign in</a></p>
</section>`;
}

export interface ResetPasswordPageData {
  csrfToken: string;
  /**
   * The token, when the form comes back with an error. On first sight it is empty: the link
   * carries the token in its fragment, which the page's script moves into the form.
   */
  token?: string | undefined;
}

/** The new-password form of a reset link (the script /assets/reset-password.js fills in the token). */
export function resetPasswordBody(d: ResetPasswordPageData): SafeHtml {
  const token = d.token ?? "";
  return html`<section class="panel narrow auth">
  <h1>Choose a new password</h1>
  <form method="post" action="/reset-password" class="form">
    <input type="hidden" name="_csrf" value="${d.csrfToken}">
    <div id="token-field"${token ? html` hidden` : ""}>
      <label for="token">Reset code <span class="muted">(the end of the email's link, after <code>#token=</code>)</span></label>
      <input id="token" name="token" type="text" autocomplete="off" spellcheck="false" required maxlength="200" value="${token}">
    </div>
    <label for="new_password">New password <span class="muted">(at least 8 characters)</span></label>
    <input id="new_password" name="new_password" type="password" autocomplete="new-password" required minlength="8" maxlength="1024" autofocus>
    <label for="confirm_password">New password again</label>
    <input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required minlength="8" maxlength="1024">
    <button type="submit" class="button primary">Set the new password</button>
  </form>
  <p class="muted small">Setting it signs you out everywhere. The link works once; <a href="/forgot-password">ask for a new one</a> if it expired.</p>
</section>`;
}
