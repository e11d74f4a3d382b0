import type { components } from "../generated/api.js";
import { html, type SafeHtml } from "./html.js";
import { linkOncePanel } from "./secret-once.js";
import { csrfField } from "./layout.js";
import { formatBytes, plural, timeTag } from "./format.js";
import { recipientsOf, statusBadge, type Recipient } from "./package-parts.js";

type Schemas = components["schemas"];

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
  /** The upload limits in words ("Files up to 2.0 GiB; you use 1.2 GiB of your 50.0 GiB"), shown by a draft's uploader. */
  uploadLimits?: string | undefined;
  /** Right after finalizing: the link, shown this once. */
  finalized?: (Pick<Schemas["FinalizedPackage"], "magic_link" | "email_sent" | "email_error"> & { links: Schemas["FinalizedLink"][] }) | undefined;
  maxTtlDays?: number;
  /** Every recipient, in the order given (a draft has no links yet, but its recipients). */
  recipients?: Recipient[] | undefined;
}

/** The state of the email with a recipient's link (queued and sent in the background, with retries). */
function mailBadge(l: Schemas["PackageLink"]): SafeHtml | string {
  if (l.mail_state === null) return "—";
  const tries = plural(l.mail_attempts, "attempt");
  const title = l.mail_state === "sent" ? `Handed to the mail server (${tries})` : l.mail_error ? `${tries}; last error: ${l.mail_error}` : tries;
  const label = l.mail_state === "queued" && l.mail_attempts > 0 ? `queued, ${l.mail_attempts} failed` : l.mail_state;
  return html`<span class="badge mail-${l.mail_state}" title="${title}">${label}</span>`;
}

/** Each recipient's link: its state, its email's state, complete downloads, first download, and a revoke of its own. */
function recipientsSection(d: PackageDetailData): SafeHtml {
  const p = d.pkg;
  if (p.links.length === 0) return html``;
  const rules = [
    p.max_downloads ? `each file ${p.max_downloads === 1 ? "once" : `${p.max_downloads} times`} per recipient` : "",
    p.password_protected ? "password protected" : "",
    p.notify_on_download === false ? "no download emails to you" : "",
  ].filter(Boolean);
  const rows = p.links.map(
    (l) => html`<tr data-link-id="${l.id}">
  <td>${l.recipient_name ? html`${l.recipient_name} <span class="muted">&lt;${l.recipient_email}&gt;</span>` : l.recipient_email}</td>
  <td>${l.used_up && l.state === "active" ? html`<span class="badge used-up">used up</span>` : statusBadge(l.state)}</td>
  <td class="num downloads">${l.download_count}</td>
  <td>${l.first_download_at ? timeTag(l.first_download_at) : "—"}</td>
  <td class="mail">${mailBadge(l)}</td>
  <td class="actions">${
    l.state === "active"
      ? html`<details class="confirm">
    <summary class="button small danger">Revoke</summary>
    <form method="post" action="/packages/${p.id}/links/${l.id}/revoke" class="confirm-box">${csrfField(d.csrfToken)}
      <p>Revoke ${l.recipient_email}'s link? The other recipients' links keep working.</p>
      <button type="submit" class="button danger">Revoke this link</button>
    </form>
  </details>`
      : ""
  }</td>
</tr>`,
  );
  return html`<section class="panel">
  <h2>Recipients <span class="muted small">${plural(p.links.length, "link")}${rules.length ? html` · ${rules.join(", ")}` : ""}</span></h2>
  <table class="table" id="recipients">
    <thead><tr><th scope="col">Recipient</th><th scope="col">Link</th><th scope="col" class="num">Downloads</th><th scope="col">First download</th><th scope="col">Email</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${rows}</tbody>
  </table>
</section>`;
}

function linkSection(d: PackageDetailData): SafeHtml {
  const p = d.pkg;
  const never = html`<p class="muted small">SpeedyFiles stores only a hash of a magic link, never the link itself: it is shown once, right after finalizing, and cannot be shown again. It was emailed to ${recipientsOf(p, d.recipients)}.</p>`;
  if (p.status === "draft") {
    const empty = p.direction === "outbound" && p.files.length === 0;
    return html`<p>No link yet. Finalizing creates the link, emails it to ${recipientsOf(p, d.recipients)} and shows it to you once.</p>
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
    <p>Revoke the link? ${recipientsOf(p, d.recipients)} can no longer ${p.direction === "inbound" ? "upload" : "download"} through it. This cannot be undone.</p>
    <button type="submit" class="button danger">Revoke link</button>
  </form>
</details>
${extendForm(d)}`;
  }
  if (p.status === "revoked") return html`<p>${statusBadge("revoked")} The link was revoked ${timeTag(p.revoked_at)}; it now says it is no longer active.</p>${never}`;
  return html`<p>${statusBadge("expired")} The link expired ${timeTag(p.expires_at)}.</p>${never}${extendForm(d)}`;
}

/** Move the expiry (an expired package comes back while its files are kept). */
function extendForm(d: PackageDetailData): SafeHtml {
  const p = d.pkg;
  if (p.status !== "active" && !(p.status === "expired" && p.magic_link_state === "expired")) return html``;
  return html`<form method="post" action="/packages/${p.id}/extend" class="inline-form" id="extend">${csrfField(d.csrfToken)}
  <label for="extend-days">Links work for</label>
  <input id="extend-days" name="days" type="number" min="1" max="${d.maxTtlDays ?? 365}" value="7" class="short" required>
  <span>more days from now</span>
  <button type="submit" class="button">${p.status === "expired" ? "Bring back" : "Extend"}</button>
</form>`;
}

/** How the package is encrypted end to end, in words (null: it is not). */
function encryptionWords(p: PackageDetailData["pkg"]): string | null {
  if (!p.encryption) return null;
  if (p.encryption.scheme === "age-scrypt") return "Encrypted end to end (age, passphrase)";
  if (p.direction === "inbound") return `Encrypted end to end (age, to your key ${p.encryption.recipient ?? ""})`;
  return "Encrypted end to end (age, key in the link)";
}

function filesSection(d: PackageDetailData): SafeHtml {
  const p = d.pkg;
  const draft = p.status === "draft";
  const encrypted = Boolean(p.encryption);
  const rows = p.files.map(
    (f) => html`<tr>
  <td class="name">${f.name}</td>
  <td class="num">${formatBytes(f.size)}</td>
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
  // This page's uploader does not encrypt: an encrypted package's files come from sf or the SDK.
  const uploader =
    draft && p.direction === "outbound" && !encrypted
      ? html`<div id="uploader" data-package-id="${p.id}" data-max-file-bytes="${d.maxFileBytes}">
  <label class="drop" id="drop"><input type="file" id="file-input" multiple aria-label="Add files"><span>Drop files here or <u>choose files</u> to add them</span></label>
  ${d.uploadLimits ? html`<p class="muted small" id="upload-limits">${d.uploadLimits}.</p>` : ""}
  <ul class="files" id="queue" aria-label="Uploads"></ul>
  <p id="status" class="muted" role="status" aria-live="polite"></p>
</div>`
      : "";
  const empty = p.direction === "inbound" ? "Nothing uploaded yet." : "No files yet.";
  return html`<section class="panel">
  <h2>${p.direction === "inbound" ? "Files received" : "Files"} <span class="muted small">${plural(p.files.length, "file")}, ${formatBytes(p.total_size)}</span></h2>
  ${
    encrypted
      ? html`<p class="muted small" id="opaque-names">The names shown are opaque: each file's real name, size and type are encrypted with it, and only the key opens them (<code>sf download</code> decrypts).${draft && p.direction === "outbound" ? " Add files with sf or the SDK, which encrypt them." : ""}</p>`
      : ""
  }
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
  <td>${e.recipient_email ?? "—"}</td>
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
    <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">From</th><th scope="col">Program</th></tr></thead>
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
    ? linkOncePanel({
        headingId: "link-heading",
        value: fin.magic_link,
        after: [
          fin.links.length > 1
            ? html`<ul class="links" id="recipient-links">${fin.links.map(
                (l) =>
                  html`<li><strong>${l.recipient_email}</strong> <input class="mono" type="text" readonly value="${l.magic_link}" aria-label="Link for ${l.recipient_email}"></li>`,
              )}</ul>`
            : "",
          ...fin.links.map((l) =>
            l.mail_state === "failed"
              ? html`<p><span class="warn">The email to ${l.recipient_email} could not be sent (${l.mail_error ?? "unknown error"}): send them the link yourself.</span></p>`
              : l.mail_state === "sent"
                ? html`<p>Emailed to ${l.recipient_email}.</p>`
                : html`<p>The email to ${l.recipient_email} is queued: it leaves in the background, retried if the mail server is down (see Recipients below).</p>`,
          ),
        ],
      })
    : "";
  return html`<p class="crumbs"><a href="/packages">Packages</a> /</p>
<div class="page-head">
  <h1>${p.title}</h1>
  ${statusBadge(p.status)}
</div>
${finalized}
<section class="panel">
  <dl class="facts">
    <dt>${p.direction === "inbound" ? "Requested from" : "Sent to"}</dt><dd>${recipientsOf(p, d.recipients)}</dd>
    ${p.message ? html`<dt>Message</dt><dd class="message">${p.message}</dd>` : ""}
    ${encryptionWords(p) ? html`<dt>Encryption</dt><dd id="encryption">${encryptionWords(p)}. The server holds only ciphertext; the title and the recipients are not encrypted.${p.sealed_message ? " The message is encrypted too." : ""}</dd>` : ""}
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
${recipientsSection(d)}
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
