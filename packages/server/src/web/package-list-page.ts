import type { components } from "../generated/api.js";
import { html, type SafeHtml } from "./html.js";
import { formatBytes, plural, timeTag } from "./format.js";
import { recipientsOf, STATUS_LABELS, STATUSES, statusBadge, type Recipient } from "./package-parts.js";

type Schemas = components["schemas"];
type Package = Schemas["Package"];
type Status = Package["status"];

export interface PackageListData {
  list: Schemas["PackageList"];
  status: Status | undefined;
  direction: Package["direction"] | undefined;
  q: string;
  /** Every recipient of the listed packages, by package id. */
  recipients: Map<string, Recipient[]>;
}

/** Recipients named in a row of the list before "+k more". */
const LIST_RECIPIENTS = 2;

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
  <td class="title"><a href="/packages/${p.id}">${p.title}</a><div class="muted small">${p.direction === "inbound" ? "Request from" : "To"} ${recipientsOf(p, d.recipients.get(p.id), LIST_RECIPIENTS)}</div></td>
  <td>${statusBadge(p.status)}</td>
  <td class="num">${p.direction === "inbound" && p.file_count === 0 ? "—" : html`${plural(p.file_count, "file")}<div class="muted small">${formatBytes(p.total_size)}</div>`}</td>
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
