import type { components } from "@speedyfiles/api-types";
import { html, humanSize, type SafeHtml } from "./html.js";
import { csrfField } from "./layout.js";
import { plural, timeTag } from "./format.js";

type Schemas = components["schemas"];
type Package = Schemas["Package"];
type Status = Package["status"];

export const STATUSES: readonly Status[] = ["draft", "active", "expired", "revoked"];
const STATUS_LABELS: Record<Status, string> = { draft: "Draft", active: "Active", expired: "Expired", revoked: "Revoked" };

export function statusBadge(status: Status): SafeHtml {
  return html`<span class="badge ${status}">${STATUS_LABELS[status]}</span>`;
}

function recipientOf(p: Package): SafeHtml {
  return p.recipient_name ? html`${p.recipient_name} <span class="muted">&lt;${p.recipient_email}&gt;</span>` : html`${p.recipient_email}`;
}

export interface PackageListData {
  list: Schemas["PackageList"];
  status: Status | undefined;
  direction: Package["direction"] | undefined;
  q: string;
}

/** `/packages?status=&direction=&q=&page=` with one value changed (page reset unless given). */
function listUrl(d: PackageListData, change: { status?: Status | undefined; page?: number }): string {
  const p = new URLSearchParams();
  const status = "status" in change ? change.status : d.status;
  if (status) p.set("status", status);
  if (d.direction) p.set("direction", d.direction);
  if (d.q) p.set("q", d.q);
  if (change.page && change.page > 1) p.set("page", String(change.page));
  const qs = p.toString();
  return qs ? `/packages?${qs}` : "/packages";
}

/** Packages: status chips, search and direction, the table, pages. */
export function packageListBody(d: PackageListData): SafeHtml {
  const { items, total, page, per_page } = d.list;
  const pages = Math.max(1, Math.ceil(total / per_page));
  const chip = (status: Status | undefined, label: string) =>
    html`<a class="chip" href="${listUrl(d, { status })}"${d.status === status ? html` aria-current="true"` : ""}>${label}</a>`;
  const rows = items.map(
    (p) => html`<tr>
  <td class="title"><a href="/packages/${p.id}">${p.title}</a><div class="muted small">${p.direction === "inbound" ? "Request from" : "To"} ${recipientOf(p)}</div></td>
  <td>${statusBadge(p.status)}</td>
  <td class="num">${p.direction === "inbound" && p.file_count === 0 ? "—" : html`${plural(p.file_count, "file")}<div class="muted small">${humanSize(p.total_size)}</div>`}</td>
  <td class="num">${p.download_count}</td>
  <td>${timeTag(p.created_at)}</td>
  <td>${timeTag(p.expires_at)}</td>
</tr>`,
  );
  const filtered = Boolean(d.status || d.direction || d.q);
  return html`<div class="page-head">
  <h1>Packages</h1>
  <a class="button primary" href="/packages/new">New package</a>
</div>
<nav class="chips" aria-label="Filter by status">
  ${chip(undefined, "All")}${STATUSES.map((st) => chip(st, STATUS_LABELS[st]))}
</nav>
<form method="get" action="/packages" class="filters" role="search">
  ${d.status ? html`<input type="hidden" name="status" value="${d.status}">` : ""}
  <label class="sr-only" for="q">Search packages</label>
  <input id="q" name="q" type="search" maxlength="200" placeholder="Search title or recipient" value="${d.q}">
  <label class="sr-only" for="direction">Direction</label>
  <select id="direction" name="direction">
    <option value="">Sent and requested</option>
    <option value="outbound"${d.direction === "outbound" ? html` selected` : ""}>Sent</option>
    <option value="inbound"${d.direction === "inbound" ? html` selected` : ""}>Requested</option>
  </select>
  <button type="submit" class="button">Search</button>
</form>
${
  items.length === 0
    ? html`<section class="panel empty">${
        filtered
          ? html`<p>No packages match. <a href="/packages">Show all</a></p>`
          : html`<p>No packages yet.</p><p><a class="button primary" href="/packages/new">Send your first files</a></p>`
      }</section>`
    : html`<table class="table" id="packages">
  <thead><tr><th scope="col">Package</th><th scope="col">Status</th><th scope="col" class="num">Files</th><th scope="col" class="num">Downloads</th><th scope="col">Created</th><th scope="col">Expires</th></tr></thead>
  <tbody>${rows}</tbody>
</table>
<nav class="pager" aria-label="Pages">
  <span class="muted">${plural(total, "package")} · page ${page} of ${pages}</span>
  ${page > 1 ? html`<a class="button small" href="${listUrl(d, { page: page - 1 })}" rel="prev">Previous</a>` : ""}
  ${page < pages ? html`<a class="button small" href="${listUrl(d, { page: page + 1 })}" rel="next">Next</a>` : ""}
</nav>`
}`;
}

export interface NewPackageData {
  csrfToken: string;
  maxTtlDays: number;
  maxFileBytes: number;
  form?: { title: string; recipient_email: string; recipient_name: string; message: string; ttl_days: string; direction: string } | undefined;
}

/** New package: the form; new-package.js creates, uploads (progress per file), finalizes and shows the link. */
export function newPackageBody(d: NewPackageData): SafeHtml {
  const f = d.form ?? { title: "", recipient_email: "", recipient_name: "", message: "", ttl_days: "7", direction: "outbound" };
  const checked = (v: string) => (f.direction === v ? html` checked` : "");
  return html`<h1>New package</h1>
<form id="new-package" method="post" action="/packages/new" class="form panel" data-max-file-bytes="${d.maxFileBytes}">
  ${csrfField(d.csrfToken)}
  <fieldset class="direction">
    <legend>What do you want to do?</legend>
    <label class="radio-card"><input type="radio" name="direction" value="outbound"${checked("outbound")}> <span><strong>Send files</strong><br><span class="muted small">They get a link to download</span></span></label>
    <label class="radio-card"><input type="radio" name="direction" value="inbound"${checked("inbound")}> <span><strong>Request files</strong><br><span class="muted small">They get a link to upload to you</span></span></label>
  </fieldset>
  <label for="title">Title</label>
  <input id="title" name="title" type="text" required maxlength="200" placeholder="Q4 financials" value="${f.title}">
  <div class="two">
    <div>
      <label for="recipient_email">Recipient email</label>
      <input id="recipient_email" name="recipient_email" type="email" required maxlength="254" placeholder="cfo@example.com" value="${f.recipient_email}">
    </div>
    <div>
      <label for="recipient_name">Recipient name <span class="muted">(optional)</span></label>
      <input id="recipient_name" name="recipient_name" type="text" maxlength="200" value="${f.recipient_name}">
    </div>
  </div>
  <label for="message">Message <span class="muted">(optional, in the email and on their page)</span></label>
  <textarea id="message" name="message" rows="3" maxlength="5000">${f.message}</textarea>
  <label for="ttl_days">Link works for (days)</label>
  <input id="ttl_days" name="ttl_days" type="number" required min="1" max="${d.maxTtlDays}" value="${f.ttl_days}" class="short">
  <div id="files-field">
    <label for="file-input">Files</label>
    <label class="drop" id="drop">
      <input type="file" id="file-input" multiple>
      <span>Drop files here or <u>choose files</u> <span class="muted">(up to ${humanSize(d.maxFileBytes)} each)</span></span>
    </label>
    <ul class="files" id="queue" aria-label="Files to send"></ul>
  </div>
  <noscript><p class="warn">Without JavaScript this saves a draft; files are added on its page, which needs JavaScript.</p></noscript>
  <p class="actions-row"><button type="submit" class="button primary" id="submit">Send</button></p>
  <p id="status" class="muted" role="status" aria-live="polite"></p>
</form>
<section id="result" class="panel secret-once" hidden aria-labelledby="result-heading">
  <h2 id="result-heading">Link created</h2>
  <p class="warn"><strong>Copy the link now.</strong> It is shown only this once: SpeedyFiles keeps only a hash of it.</p>
  <div class="copy-row">
    <input id="magic-link" class="mono" type="text" readonly value="" aria-label="Magic link" data-autoselect>
    <button type="button" class="button primary" data-copy="magic-link">Copy</button>
  </div>
  <p class="muted small copy-status" role="status" aria-live="polite"></p>
  <p id="email-status"></p>
  <p><a class="button" id="open-package" href="/packages">Open the package</a> <a class="button" href="/packages/new">New package</a></p>
</section>`;
}

const EVENT_LABELS: Record<Schemas["PackageEvent"]["type"], string> = {
  file_download: "Downloaded",
  archive_download: "Downloaded everything as a zip",
  upload: "Uploaded",
  complete: "Said they are done",
};

function browserName(ua: string | null): string {
  if (!ua) return "—";
  const m = /(Edg|Firefox|Chrome|Chromium|Safari|curl|Wget|node|undici|speedyfiles[\w-]*)\/[\d.]+/i.exec(ua);
  return m ? m[0] : ua.slice(0, 40);
}

export interface PackageDetailData {
  pkg: Schemas["PackageDetail"];
  events: Schemas["PackageEvent"][];
  csrfToken: string;
  maxFileBytes: number;
  /** Right after finalizing: the link, shown this once. */
  finalized?: Pick<Schemas["FinalizedPackage"], "magic_link" | "email_sent" | "email_error"> | undefined;
}

function linkSection(d: PackageDetailData): SafeHtml {
  const p = d.pkg;
  const never = html`<p class="muted small">SpeedyFiles stores only a hash of a magic link, never the link itself: it is shown once, right after finalizing, and cannot be shown again. It was emailed to ${p.recipient_email}.</p>`;
  if (p.status === "draft") {
    const empty = p.direction === "outbound" && p.files.length === 0;
    return html`<p>No link yet. Finalizing creates the link, emails it to ${recipientOf(p)} and shows it to you once.</p>
<form method="post" action="/packages/${p.id}/finalize">${csrfField(d.csrfToken)}
  <button type="submit" class="button primary" id="finalize"${empty ? html` disabled` : ""}>Finalize and send the link</button>
  ${empty ? html`<span class="muted small">Add a file first.</span>` : ""}
</form>`;
  }
  if (p.status === "active") {
    return html`<p>${statusBadge("active")} The link works until ${timeTag(p.expires_at)}.</p>
${never}
<details class="confirm">
  <summary class="button danger">Revoke link</summary>
  <form method="post" action="/packages/${p.id}/revoke" class="confirm-box">${csrfField(d.csrfToken)}
    <p>Revoke the link? ${recipientOf(p)} can no longer ${p.direction === "inbound" ? "upload" : "download"} through it. This cannot be undone.</p>
    <button type="submit" class="button danger">Revoke link</button>
  </form>
</details>`;
  }
  if (p.status === "revoked") return html`<p>${statusBadge("revoked")} The link was revoked ${timeTag(p.revoked_at)}; it now says it is no longer active.</p>${never}`;
  return html`<p>${statusBadge("expired")} The link expired ${timeTag(p.expires_at)}.</p>${never}`;
}

function filesSection(d: PackageDetailData): SafeHtml {
  const p = d.pkg;
  const draft = p.status === "draft";
  const rows = p.files.map(
    (f) => html`<tr>
  <td class="name">${f.name}</td>
  <td class="num">${humanSize(f.size)}</td>
  <td><code class="small" title="${f.sha256}">${f.sha256.slice(0, 12)}…</code></td>
  <td>${timeTag(f.created_at)}</td>
  <td class="actions">
    <a class="button small" href="/api/v1/packages/${p.id}/files/${f.id}" download>Download</a>
    ${
      draft
        ? html`<form method="post" action="/packages/${p.id}/files/${f.id}/delete">${csrfField(d.csrfToken)}<button type="submit" class="button small">Remove</button></form>`
        : ""
    }
  </td>
</tr>`,
  );
  const uploader =
    draft && p.direction === "outbound"
      ? html`<div id="uploader" data-package-id="${p.id}" data-max-file-bytes="${d.maxFileBytes}">
  <label class="drop" id="drop"><input type="file" id="file-input" multiple aria-label="Add files"><span>Drop files here or <u>choose files</u> to add them</span></label>
  <ul class="files" id="queue" aria-label="Uploads"></ul>
  <p id="status" class="muted" role="status" aria-live="polite"></p>
</div>`
      : "";
  const empty = p.direction === "inbound" ? "Nothing uploaded yet." : "No files yet.";
  return html`<section class="panel">
  <h2>${p.direction === "inbound" ? "Files received" : "Files"} <span class="muted small">${plural(p.files.length, "file")}, ${humanSize(p.total_size)}</span></h2>
  ${
    p.files.length === 0
      ? html`<p class="empty">${empty}</p>`
      : html`<table class="table" id="files">
    <thead><tr><th scope="col">Name</th><th scope="col" class="num">Size</th><th scope="col">SHA-256</th><th scope="col">Added</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${rows}</tbody>
  </table>`
  }
  ${uploader}
</section>`;
}

function eventsSection(d: PackageDetailData): SafeHtml {
  const rows = d.events.map(
    (e) => html`<tr>
  <td>${timeTag(e.created_at)}</td>
  <td>${EVENT_LABELS[e.type]}${e.file_name ? html` <span class="name">${e.file_name}</span>` : ""}</td>
  <td>${e.client_address ?? "—"}</td>
  <td class="small" title="${e.user_agent ?? ""}">${browserName(e.user_agent)}</td>
</tr>`,
  );
  return html`<section class="panel">
  <h2>Activity <span class="muted small">${plural(d.pkg.download_count, "download")}</span></h2>
  ${
    d.events.length === 0
      ? html`<p class="empty">Nothing yet: downloads and uploads through the link appear here.</p>`
      : html`<table class="table" id="events">
    <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">From</th><th scope="col">Program</th></tr></thead>
    <tbody>${rows}</tbody>
  </table>`
  }
</section>`;
}

/** One package: facts, the link's state (and the link itself once, right after finalizing), files, activity, delete. */
export function packageDetailBody(d: PackageDetailData): SafeHtml {
  const p = d.pkg;
  const fin = d.finalized;
  const finalized = fin
    ? html`<section class="panel secret-once" aria-labelledby="link-heading">
  <h2 id="link-heading">Link created</h2>
  <p class="warn"><strong>Copy the link now.</strong> It is shown only this once: SpeedyFiles keeps only a hash of it.</p>
  <div class="copy-row">
    <input id="magic-link" class="mono" type="text" readonly value="${fin.magic_link}" aria-label="Magic link" data-autoselect>
    <button type="button" class="button primary" data-copy="magic-link">Copy</button>
  </div>
  <p class="muted small copy-status" role="status" aria-live="polite"></p>
  <p>${fin.email_sent ? html`Emailed to ${p.recipient_email}.` : html`<span class="warn">The email to ${p.recipient_email} could not be sent (${fin.email_error ?? "unknown error"}): send them the link yourself.</span>`}</p>
</section>`
    : "";
  return html`<p class="crumbs"><a href="/packages">Packages</a> /</p>
<div class="page-head">
  <h1>${p.title}</h1>
  ${statusBadge(p.status)}
</div>
${finalized}
<section class="panel">
  <dl class="facts">
    <dt>${p.direction === "inbound" ? "Requested from" : "Sent to"}</dt><dd>${recipientOf(p)}</dd>
    ${p.message ? html`<dt>Message</dt><dd class="message">${p.message}</dd>` : ""}
    <dt>Created</dt><dd>${timeTag(p.created_at)}</dd>
    <dt>Link lifetime</dt><dd>${plural(p.ttl_days, "day")} after finalizing</dd>
    ${p.finalized_at ? html`<dt>Finalized</dt><dd>${timeTag(p.finalized_at)}</dd>` : ""}
    ${p.direction === "inbound" && p.completed_at ? html`<dt>Recipient said done</dt><dd>${timeTag(p.completed_at)}</dd>` : ""}
  </dl>
</section>
<section class="panel">
  <h2>Magic link</h2>
  ${linkSection(d)}
</section>
${filesSection(d)}
${eventsSection(d)}
<section class="panel danger-zone">
  <h2>Delete</h2>
  <details class="confirm">
    <summary class="button danger">Delete package</summary>
    <form method="post" action="/packages/${p.id}/delete" class="confirm-box">${csrfField(d.csrfToken)}
      <p>Delete “${p.title}” with its ${plural(p.files.length, "file")}? The link stops working and this cannot be undone.</p>
      <button type="submit" class="button danger">Delete for good</button>
    </form>
  </details>
</section>`;
}
