import { html, type SafeHtml } from "./html.js";

/** The signed-in user, as the header shows them. */
export interface LayoutUser {
  name: string;
  email: string;
  role: "user" | "admin";
}

export type Section = "packages" | "webhooks" | "admin" | "account";

export interface LayoutOptions {
  title: string;
  /** Signed in: the header with navigation and the user menu. Absent: a bare page (sign-in, errors). */
  user?: LayoutUser | undefined;
  /** The session's CSRF token, for the sign-out form and for scripts (`<meta name="csrf-token">`). */
  csrfToken?: string | undefined;
  section?: Section | undefined;
  /** Our own scripts under /assets (the CSP allows nothing else, and no inline script). */
  scripts?: string[] | undefined;
  /** A success message above the content (a fixed text, or escaped). */
  notice?: string | null | undefined;
  /** An error message above the content. */
  error?: string | null | undefined;
  /** Go on to this URL at once (`<meta http-equiv="refresh">`; no script runs on our pages). */
  refreshTo?: string | undefined;
  body: SafeHtml;
}

/** A hidden form field with the session's CSRF token: every form that changes something has one. */
export function csrfField(token: string): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

function header(o: LayoutOptions, user: LayoutUser): SafeHtml {
  const nav = (section: Section, href: string, label: string) => html`<a href="${href}"${o.section === section ? html` aria-current="page"` : ""}>${label}</a>`;
  return html`<header class="topbar">
  <a class="brand" href="/packages"><img src="/assets/favicon.svg" alt="" width="22" height="22"> SpeedyFiles</a>
  <nav class="mainnav" aria-label="Main">
    ${nav("packages", "/packages", "Packages")}
    ${nav("webhooks", "/webhooks", "Webhooks")}
    ${user.role === "admin" ? nav("admin", "/admin/users", "Admin") : ""}
  </nav>
  <a class="button primary new-package" href="/packages/new">New package</a>
  <details class="user-menu">
    <summary aria-label="User menu: ${user.name}"><span class="avatar" aria-hidden="true">${(user.name.trim()[0] ?? "?").toUpperCase()}</span><span class="who">${user.name}</span></summary>
    <div class="menu">
      <p class="menu-email">Signed in as<br><strong>${user.email}</strong></p>
      <a href="/account"${o.section === "account" ? html` aria-current="page"` : ""}>Account</a>
      <form method="post" action="/logout">${csrfField(o.csrfToken ?? "")}<button type="submit" class="linklike">Sign out</button></form>
    </div>
  </details>
</header>`;
}

/**
 * Every page of the web interface: our stylesheets and scripts only (the page CSP forbids inline
 * script and style), light and dark by `prefers-color-scheme`, a skip link, the header with the
 * user menu when signed in, then the messages and the content.
 */
export function layout(o: LayoutOptions): string {
  const scripts = ["/assets/web.js", ...(o.scripts ?? [])];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
${o.csrfToken ? html`<meta name="csrf-token" content="${o.csrfToken}">` : ""}
${o.refreshTo ? html`<meta http-equiv="refresh" content="0; url=${o.refreshTo}">` : ""}
<title>${o.title} · SpeedyFiles</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/app.css">
<link rel="stylesheet" href="/assets/web.css">
${scripts.map((src) => html`<script src="${src}" type="module"></script>`)}
</head>
<body class="app">
<a class="skip" href="#main">Skip to content</a>
${o.user ? header(o, o.user) : html`<header class="topbar bare"><a class="brand" href="/"><img src="/assets/favicon.svg" alt="" width="22" height="22"> SpeedyFiles</a></header>`}
<main id="main" class="page" tabindex="-1">
${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ""}
${o.error ? html`<p class="error" role="alert">${o.error}</p>` : ""}
${o.body}
</main>
</body>
</html>`.value;
}
