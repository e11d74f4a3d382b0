import { html, type SafeHtml } from "./html.js";
import { linkOncePanel } from "./secret-once.js";
import { formatBytes } from "./format.js";
import { csrfField } from "./layout.js";
import { policyLimits, type LimitsData } from "./policy-limits.js";

export interface NewPackageData {
  csrfToken: string;
  /** The rules and limits the user works within (shown in words before they hit them). */
  limits: LimitsData;
  form?:
    | {
        title: string;
        recipient_email: string;
        recipient_name: string;
        message: string;
        ttl_days: string;
        direction: string;
        max_downloads: string;
        notify_on_download: boolean;
      }
    | undefined;
}

/** New package: the form; new-package.js creates, uploads (progress per file), finalizes and shows the link. */
export function newPackageBody(d: NewPackageData): SafeHtml {
  const f = d.form ?? { title: "", recipient_email: "", recipient_name: "", message: "", ttl_days: "7", direction: "outbound", max_downloads: "", notify_on_download: true };
  const checked = (v: string) => (f.direction === v ? html` checked` : "");
  const l = d.limits;
  return html`<h1>New package</h1>
<form id="new-package" method="post" action="/packages/new" class="form panel" data-max-file-bytes="${l.maxFileBytes}">
  ${csrfField(d.csrfToken)}
  ${policyLimits(l, { create: true, upload: true })}
  <fieldset class="direction">
    <legend>What do you want to do?</legend>
    <label class="radio-card"><input type="radio" name="direction" value="outbound"${checked("outbound")}> <span><strong>Send files</strong><br><span class="muted small">They get a link to download</span></span></label>
    <label class="radio-card"><input type="radio" name="direction" value="inbound"${checked("inbound")}> <span><strong>Request files</strong><br><span class="muted small">They get a link to upload to you</span></span></label>
  </fieldset>
  <label for="title">Title</label>
  <input id="title" name="title" type="text" required maxlength="200" placeholder="Q4 financials" value="${f.title}">
  <div class="two">
    <div>
      <label for="recipient_email">Recipient email <span class="muted">(several: separate with commas; each gets their own link)</span></label>
      <input id="recipient_email" name="recipient_email" type="email" multiple required maxlength="13000" placeholder="cfo@example.com, audit@example.com" value="${f.recipient_email}">
    </div>
    <div>
      <label for="recipient_name">Recipient name <span class="muted">(optional)</span></label>
      <input id="recipient_name" name="recipient_name" type="text" maxlength="200" value="${f.recipient_name}">
    </div>
  </div>
  <label for="message">Message <span class="muted">(optional, in the email and on their page)</span></label>
  <textarea id="message" name="message" rows="3" maxlength="5000">${f.message}</textarea>
  <label for="ttl_days">Link works for (days)</label>
  <input id="ttl_days" name="ttl_days" type="number" required min="${l.rules.min_ttl_days ?? 1}" max="${l.maxTtlDays}" value="${f.ttl_days}" class="short">
  <fieldset id="delivery-field" class="delivery">
    <legend>Delivery controls <span class="muted">(optional)</span></legend>
    <label for="max_downloads">Downloads allowed of each file, per recipient</label>
    <input id="max_downloads" name="max_downloads" type="number" min="1" max="1000" placeholder="no limit" value="${f.max_downloads}" class="short">
    <label for="password">Password <span class="muted">(8–128 characters: letters, digits, spaces and symbols on a US keyboard, no accents; tell them some other way than email)</span></label>
    <input id="password" name="password" type="password" minlength="8" maxlength="128" pattern="[!-~][ -~]{6,126}[!-~]" autocomplete="new-password">
    <label class="check"><input type="checkbox" id="notify_on_download" name="notify_on_download" value="1"${f.notify_on_download ? html` checked` : ""}> Email me when each recipient first downloads, and when their downloads are used up</label>
  </fieldset>
  <div id="files-field">
    <label for="file-input">Files</label>
    <label class="drop" id="drop">
      <input type="file" id="file-input" multiple>
      <span>Drop files here or <u>choose files</u> <span class="muted">(up to ${formatBytes(l.maxFileBytes)} each)</span></span>
    </label>
    <ul class="files" id="queue" aria-label="Files to send"></ul>
  </div>
  <noscript><p class="warn">Without JavaScript this saves a draft; files are added on its page, which needs JavaScript.</p></noscript>
  <p class="actions-row"><button type="submit" class="button primary" id="submit">Send</button></p>
  <p id="status" class="muted" role="status" aria-live="polite"></p>
</form>
${linkOncePanel({
  sectionId: "result",
  hidden: true,
  headingId: "result-heading",
  value: "",
  after: html`<ul id="recipient-links" class="links" hidden aria-label="Each recipient's link"></ul>
  <p id="email-status"></p>
  <p><a class="button" id="open-package" href="/packages">Open the package</a> <a class="button" href="/packages/new">New package</a></p>`,
})}`;
}
