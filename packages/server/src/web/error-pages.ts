import { html } from "./html.js";
import type { SafeHtml } from "./html.js";

const HEADINGS: Record<number, [string, string]> = {
  403: ["You cannot open this page", "Your account does not have access to it. If you think it should, ask an administrator."],
  404: ["Page not found", "It may have been deleted, or the address is mistyped."],
  413: ["That was too much", "The form sent more than this server accepts."],
  429: ["Slow down", "Too many attempts. Wait a few minutes, then try again."],
  500: ["Something went wrong", "The server could not finish this request. Try again; if it keeps happening, tell your administrator."],
};

/** The body of an error page: a heading for the status, the reason, and a way back. */
export function errorBody(status: number, detail: string, code?: string): { title: string; body: SafeHtml } {
  const [title, hint] =
    code === "csrf_failed"
      ? ["This form cannot be sent", "Forms are accepted only from the page of this server that showed them, while you are signed in."]
      : (HEADINGS[status] ?? ["That did not work", ""]);
  return {
    title,
    body: html`<section class="panel narrow">
  <h1>${title}</h1>
  <p>${detail}</p>
  ${hint ? html`<p class="muted">${hint}</p>` : ""}
  <p><a class="button" href="/packages">Go to your packages</a></p>
</section>`,
  };
}
