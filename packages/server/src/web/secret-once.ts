import { html, type HtmlValue, type SafeHtml } from "./html.js";

/** A secret the server keeps only a hash of, shown to its owner this once with a Copy button. */
export interface SecretOnce {
  /** The section's id, when a script fills and shows it (`hidden` until then). */
  sectionId?: string;
  hidden?: boolean;
  headingId: string;
  heading: HtmlValue;
  /** The warning, starting "Copy … now." in bold. */
  warning: SafeHtml;
  /** The read-only field holding the secret (its id is what the Copy button copies). */
  inputId: string;
  value: string;
  label: string;
  /** What follows the field: how to use the secret, other recipients' links, where the email went. */
  after?: HtmlValue;
}

/**
 * The one panel for a secret shown once: the magic link after finalizing (the package page and
 * the New package page), a new API token, a new webhook's signing secret. web.js gives the Copy
 * buttons and `data-autoselect` fields their behaviour.
 */
export function secretOncePanel(p: SecretOnce): SafeHtml {
  return html`<section${p.sectionId ? html` id="${p.sectionId}"` : ""} class="panel secret-once"${p.hidden ? html` hidden` : ""} aria-labelledby="${p.headingId}">
  <h2 id="${p.headingId}">${p.heading}</h2>
  <p class="warn">${p.warning}</p>
  <div class="copy-row">
    <input id="${p.inputId}" class="mono" type="text" readonly value="${p.value}" aria-label="${p.label}" data-autoselect>
    <button type="button" class="button primary" data-copy="${p.inputId}">Copy</button>
  </div>
  <p class="muted small copy-status" role="status" aria-live="polite"></p>
  ${p.after}
</section>`;
}

/** The magic link's panel, "Link created": rendered by the package page, or filled in by new-package.js. */
export function linkOncePanel(o: { sectionId?: string; hidden?: boolean; headingId: string; value: string; after?: HtmlValue }): SafeHtml {
  return secretOncePanel({
    ...o,
    heading: "Link created",
    warning: html`<strong>Copy the link now.</strong> It is shown only this once: SpeedyFiles keeps only a hash of it.`,
    inputId: "magic-link",
    label: "Magic link",
  });
}
