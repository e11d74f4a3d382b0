import { escapeHtml as e } from "./html.js";
import { FORMAT_BYTES_SCRIPT_PATH, formatBytes } from "./format.js";

// No inline script or style anywhere (the CSP in http/security-headers.ts forbids them):
// everything comes from our own /assets.

function layout(title: string, body: string, opts: { scripts?: string[]; modules?: string[] } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${e(title)} · SpeedyFiles</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/app.css">
${(opts.scripts ?? []).map((src) => `<script src="${e(src)}" defer></script>`).join("\n")}
${(opts.modules ?? []).map((src) => `<script src="${e(src)}" type="module"></script>`).join("\n")}
</head>
<body>
<main class="card">
${body}
</main>
<footer>Sent with SpeedyFiles · links are private: do not forward them</footer>
</body>
</html>`;
}

/** Files of at least this size go through tus (resumable) from the pages, as from the SDK. */
export const RESUMABLE_THRESHOLD = 64 * 1024 * 1024;
/** tus-js-client's browser build (routes/web.ts serves it from node_modules). */
export const TUS_CLIENT_SCRIPT = "/assets/vendor/tus.min.js";
/** The encrypted pages' bundles (build-assets.mjs → dist/assets/e2e, served here). */
export const E2E_ASSETS = "/assets/e2e";
/** The decrypting service worker (scope /decrypt/). */
export const DECRYPT_SW_SCRIPT = "/decrypt-sw.js";
/** Said on every encrypted package's page, as the issue words it for people. */
const E2E_SENTENCE = "Encrypted end to end: the server cannot read these files; your browser decrypts them.";

const formatDate = (iso: string) => new Date(iso).toUTCString().replace(/:\d\d GMT$/, " UTC");

interface PageFile {
  id: string;
  name: string;
  size: number;
  sha256: string;
  /** Downloaded through this link as many times as the sender allowed. */
  usedUp?: boolean;
  /** An encrypted package's file: its sealed entry (base64 of an age file), opened by the page's script. */
  sealed?: string | null | undefined;
}

export interface LinkPageData {
  secret: string;
  title: string;
  message: string | null;
  direction: "outbound" | "inbound";
  senderName: string;
  senderEmail: string;
  expiresAt: string;
  files: PageFile[];
  totalSize: number;
  completedAt: string | null;
  maxDownloads?: number | null;
  /** End-to-end encryption (null: none): the page's script decrypts; the server shows what it knows. */
  encryption?: { scheme: "age-x25519" | "age-scrypt"; recipient?: string } | null;
  sealedMessage?: string | null;
  /** An upload request: the largest file it takes (the owner's policy or the server's limit). */
  maxFileBytes?: number | undefined;
}

/** The recipient's page: a download list (outbound) or an upload form (inbound). */
export function linkPage(d: LinkPageData): string {
  const api = `/api/v1/links/${encodeURIComponent(d.secret)}`;
  const from = `${e(d.senderName)} <span class="muted">&lt;${e(d.senderEmail)}&gt;</span>`;
  const message = d.message ? `<blockquote class="message">${e(d.message)}</blockquote>` : "";
  const expiry = `<p class="muted">This link works until <time datetime="${e(d.expiresAt)}">${e(formatDate(d.expiresAt))}</time>.</p>`;

  if (d.encryption && d.direction === "outbound") return encryptedLinkPage(d, d.encryption, { api, from, expiry });

  if (d.direction === "outbound") {
    const rows = d.files
      .map(
        (f) => `<li class="file">
  <span class="name">${e(f.name)}</span>
  <span class="size">${e(formatBytes(f.size))}</span>
  ${f.usedUp ? '<span class="muted used-up">Already downloaded</span>' : `<a class="button" href="${e(`${api}/files/${f.id}`)}" download data-file-id="${e(f.id)}">Download</a>`}
</li>`,
      )
      .join("\n");
    const body = `<h1>${e(d.title)}</h1>
<p>${from} sent you ${d.files.length} file${d.files.length === 1 ? "" : "s"} (${e(formatBytes(d.totalSize))}).</p>
${message}
${expiry}
${d.maxDownloads ? `<p class="muted" id="limit">Each file can be downloaded ${d.maxDownloads === 1 ? "once" : `${d.maxDownloads} times`} with this link.</p>` : ""}
<ul class="files">
${rows}
</ul>
${d.files.length > 1 && !d.files.some((f) => f.usedUp) ? `<p><a class="button primary" id="download-all" href="${e(`${api}/archive`)}" download>Download all as .zip</a></p>` : ""}
<details><summary>Checksums (SHA-256)</summary><ul class="sums">${d.files.map((f) => `<li><code>${e(f.sha256)}</code> ${e(f.name)}</li>`).join("")}</ul></details>`;
    return layout(d.title, body);
  }

  // An encrypted request: the names the server holds are opaque, so the page shows none of them.
  const recipient = d.encryption?.scheme === "age-x25519" ? d.encryption.recipient : undefined;
  // Encrypted, yet nothing to encrypt to (the API never makes such a request): no uploader at all,
  // rather than one that would send plaintext.
  if (d.encryption && !recipient) {
    return layout(
      d.title,
      `<h1>${e(d.title)}</h1><p class="warn" id="e2e-status">This request is encrypted but carries no key to encrypt your files to. Ask ${e(d.senderName)} for a new link.</p>`,
    );
  }
  const uploaded = d.files
    .map((f) => `<li class="file"><span class="name">${recipient ? "Encrypted file" : e(f.name)}</span><span class="size">${e(formatBytes(f.size))}</span></li>`)
    .join("\n");
  const body = `<h1>${e(d.title)}</h1>
<p>${from} asks you to upload files.</p>
${message}
${
  recipient
    ? `<p class="notice" id="e2e-notice">Encrypted end to end: your browser encrypts each file for ${e(d.senderName)} before it leaves this computer; the server cannot read them.</p>`
    : ""
}
${expiry}
<section id="uploader" data-api="${e(api)}" data-resumable-threshold="${RESUMABLE_THRESHOLD}"${recipient ? ` data-recipient="${e(recipient)}"` : ""}>
  <label class="drop" id="drop">
    <input type="file" id="file-input" name="file" multiple>
    <span>Drop files here or <u>choose files</u>${d.maxFileBytes ? ` <span class="muted" id="upload-limits">(files up to ${e(formatBytes(d.maxFileBytes))} each)</span>` : ""}</span>
  </label>
  <ul class="files" id="queue"></ul>
  <p><button type="button" class="button primary" id="done" disabled>I'm done — notify ${e(d.senderName)}</button></p>
  <p id="status" class="muted" role="status" aria-live="polite">${d.completedAt ? "You already sent files; you can add more." : ""}</p>
  <noscript><p class="warn">Uploading needs JavaScript. Downloads never do.</p></noscript>
</section>
<h2>Already received</h2>
<ul class="files" id="received">${uploaded || '<li class="muted" id="none-yet">Nothing yet.</li>'}</ul>`;
  // tus-js-client (served from our origin) sends large files in resumable chunks.
  // The upload script is a module: it shares upload-queue.js with the signed-in pages.
  return layout(d.title, body, { scripts: [TUS_CLIENT_SCRIPT, FORMAT_BYTES_SCRIPT_PATH], modules: ["/assets/upload.js"] });
}

/**
 * An encrypted outbound package's page. The server knows the title, the sender, the count and the
 * ciphertext sizes; names, sizes and the message are sealed, and the page's script opens them with
 * the key from the address's fragment (which no request carries) or a passphrase typed here (a
 * field without a name, in a form the script never submits). No zip: each file decrypts alone.
 */
function encryptedLinkPage(d: LinkPageData, enc: NonNullable<LinkPageData["encryption"]>, p: { api: string; from: string; expiry: string }): string {
  const rows = d.files
    .map(
      (f) => `<li class="file" data-file-id="${e(f.id)}" data-sealed="${e(f.sealed ?? "")}"${f.usedUp ? " data-used-up" : ""}>
  <span class="name muted">Encrypted file</span>
  <span class="size muted">${e(formatBytes(f.size))} encrypted</span>
</li>`,
    )
    .join("\n");
  const n = d.files.length;
  const body = `<h1>${e(d.title)}</h1>
<p>${p.from} sent you ${n} encrypted file${n === 1 ? "" : "s"}.</p>
<p class="notice" id="e2e-notice">${e(E2E_SENTENCE)}</p>
${p.expiry}
${d.maxDownloads ? `<p class="muted" id="limit">Each file can be downloaded ${d.maxDownloads === 1 ? "once" : `${d.maxDownloads} times`} with this link.</p>` : ""}
<section id="encrypted" data-api="${e(p.api)}" data-scheme="${e(enc.scheme)}" data-sealed-message="${e(d.sealedMessage ?? "")}">
  <form id="passphrase-form" class="password-form" hidden>
    <label for="passphrase">Passphrase</label>
    <input type="password" id="passphrase" autocomplete="off" autofocus>
    <p class="muted">The passphrase the sender gave you. It stays in this browser: the server never sees it.</p>
    <p><button type="submit" class="button primary">Decrypt</button></p>
  </form>
  <p id="e2e-status" role="alert" hidden></p>
  <p id="e2e-fallback" class="notice" role="status" hidden></p>
  <ul class="files" id="e2e-files">
${rows}
  </ul>
  <noscript><p class="warn">Decrypting these files needs JavaScript. Without it, use <code>sf download</code> with the full link.</p></noscript>
</section>`;
  return layout(d.title, body, { scripts: [FORMAT_BYTES_SCRIPT_PATH], modules: [`${E2E_ASSETS}/encrypted-link.js`] });
}

/** What the server answers at /decrypt/… when no service worker took the request: nothing. */
export function decryptMissPage(): string {
  const heading = "Nothing to download here";
  return layout(
    heading,
    `<h1>${e(heading)}</h1><p>This address only works for a download started from an encrypted package's page, in the same browser.</p><p class="muted">Go back to the link the sender gave you and press Download again.</p>`,
  );
}

/** A password-protected link: the form that asks for it (nothing of the package but its title). */
export function linkPasswordPage(d: { secret: string; title: string; error?: string | undefined }): string {
  const body = `<h1>${e(d.title)}</h1>
<p>The sender protected these files with a password.</p>
<form method="post" action="/l/${e(encodeURIComponent(d.secret))}" class="password-form">
  <label for="link-password">Password</label>
  <input type="password" id="link-password" name="password" required autocomplete="off" maxlength="128" autofocus>
  ${d.error ? `<p class="warn" id="password-error" role="alert">${e(d.error)}</p>` : ""}
  <p><button type="submit" class="button primary">Open</button></p>
</form>`;
  // The script keeps the address's fragment (an encrypted package's key) through the form.
  return layout(d.title, body, { scripts: ["/assets/link-password.js"] });
}

/** 404 / 410 / 429: a page a person understands, with nothing of the package in it. */
export function deadLinkPage(status: number, detail: string, code?: string): string {
  const heading = status === 410 ? "This link is no longer active" : status === 429 ? "Slow down" : "Link not found";
  const hint =
    code === "download_limit_reached"
      ? "Ask the sender if you need the files again: they can allow more downloads."
      : code === "link_replaced"
        ? "Open the link in the sender's most recent email."
        : status === 410
          ? "It expired or its sender revoked it. Ask the sender for a new link."
          : status === 429
            ? "Too many attempts. Try again in a few minutes."
            : "Check that you copied the whole link from the email.";
  return layout(heading, `<h1>${e(heading)}</h1><p>${e(detail)}</p><p class="muted">${e(hint)}</p>`);
}
