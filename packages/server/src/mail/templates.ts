import type { MailMessage } from "./mailer.js";
import { escapeHtml } from "../util/escape-html.js";
import { formatBytes } from "../util/format-bytes.js";

export interface PackageEmailInput {
  direction: "outbound" | "inbound";
  senderName: string;
  senderEmail: string;
  recipientEmail: string;
  recipientName: string | null;
  title: string;
  message: string | null;
  files: { name: string; size: number }[];
  link: string;
  expiresAt: string;
  /** The recipient needs the password the sender gives them (never in this email). */
  passwordProtected?: boolean;
  maxDownloads?: number | null;
  /**
   * End-to-end encryption of the package (null: none). The email then holds no message and no
   * file names (the server has only sealed ones), and the link without its key.
   */
  encryption?: EncryptionScheme | null;
}

type EncryptionScheme = "age-x25519" | "age-scrypt";

/** What the recipient of an encrypted package needs to know: where the key comes from. */
function encryptionNotes(i: Pick<PackageEmailInput, "direction" | "encryption">): string[] {
  if (!i.encryption) return [];
  if (i.direction === "inbound") {
    return ["Files you upload through this link are encrypted end to end: the page encrypts them on your device before they leave it, and only the sender can open them."];
  }
  return i.encryption === "age-scrypt"
    ? ["These files are encrypted end to end. You need the passphrase the sender gives you; this link works as is."]
    : ["These files are encrypted end to end. The key that opens them is not in this email: the sender gives you the full link (it ends with #AGE-SECRET-KEY-…)."];
}

/** The delivery rules a recipient should know before clicking (none of them secret). */
function deliveryNotes(i: PackageEmailInput): string[] {
  const notes: string[] = [];
  if (i.passwordProtected) notes.push("The page asks for a password; the sender gives it to you separately.");
  if (i.maxDownloads) notes.push(`Each file can be downloaded ${i.maxDownloads === 1 ? "once" : `${i.maxDownloads} times`} with this link.`);
  return notes;
}

/** Header values must be one line: a title with a newline must not add a header. */
const oneLine = (s: string) => s.replace(/[\r\n\t]+/g, " ").trim();

const formatDate = (iso: string) => `${new Date(iso).toUTCString().replace(/:\d\d GMT$/, " UTC")}`;

/** The recipient's email: files sent to you (outbound) or files requested from you (inbound). */
export function packageEmail(i: PackageEmailInput): MailMessage {
  const from = i.senderEmail ? `${i.senderName} (${i.senderEmail})` : i.senderName;
  const outbound = i.direction === "outbound";
  const subject = oneLine(outbound ? `${i.senderName} sent you files: ${i.title}` : `${i.senderName} asks you to upload files: ${i.title}`);
  const expires = formatDate(i.expiresAt);
  const greeting = i.recipientName ? `Hello ${i.recipientName},` : "Hello,";
  const total = i.files.reduce((n, f) => n + f.size, 0);
  // An encrypted package's names are opaque and its message sealed: neither is shown.
  const encrypted = Boolean(i.encryption);
  const message = encrypted ? null : i.message;
  const filesLine = `Files (${i.files.length}, ${formatBytes(total)})${encrypted ? ", their names encrypted" : ""}:`;
  const notes = [...encryptionNotes(i), ...deliveryNotes(i)];

  const text = [
    greeting,
    "",
    outbound ? `${from} sent you files with SpeedyFiles: "${i.title}".` : `${from} asks you to upload files with SpeedyFiles: "${i.title}".`,
    ...(message ? ["", "Message:", ...message.split(/\r?\n/).map((l) => `  ${l}`)] : []),
    ...(outbound && encrypted ? ["", filesLine.replace(/:$/, ".")] : []),
    ...(outbound && !encrypted ? ["", filesLine, ...i.files.map((f) => `  - ${f.name} (${formatBytes(f.size)})`)] : []),
    "",
    outbound ? `Download: ${i.link}` : `Upload: ${i.link}`,
    `The link works until ${expires}.`,
    ...notes,
    "",
    "Anyone with this link can " + (outbound ? "download these files" : "upload files to the sender") + "; do not forward it.",
  ].join("\n");

  const fileRows = (encrypted ? [] : i.files).map((f) => `<li>${escapeHtml(f.name)} <span style="color:#666">(${escapeHtml(formatBytes(f.size))})</span></li>`).join("");
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#222">
<p>${escapeHtml(greeting)}</p>
<p>${escapeHtml(from)} ${outbound ? "sent you files" : "asks you to upload files"} with SpeedyFiles: <strong>${escapeHtml(i.title)}</strong></p>
${message ? `<blockquote style="border-left:3px solid #ccc;margin:0;padding-left:12px;white-space:pre-wrap">${escapeHtml(message)}</blockquote>` : ""}
${outbound ? (encrypted ? `<p>${escapeHtml(filesLine.replace(/:$/, "."))}</p>` : `<p>${escapeHtml(filesLine)}</p><ul>${fileRows}</ul>`) : ""}
<p><a href="${escapeHtml(i.link)}" style="display:inline-block;padding:10px 16px;background:#2557d6;color:#fff;text-decoration:none;border-radius:6px">${outbound ? "Download files" : "Upload files"}</a></p>
${notes.map((n) => `<p>${escapeHtml(n)}</p>`).join("")}
<p style="font-size:90%;color:#555">Or open: ${escapeHtml(i.link)}<br>The link works until ${escapeHtml(expires)}. Anyone with it can ${outbound ? "download these files" : "upload files to the sender"}; do not forward it.</p>
</body></html>`;

  return { to: i.recipientName ? `"${oneLine(i.recipientName).replace(/["\\]/g, "")}" <${i.recipientEmail}>` : i.recipientEmail, subject, text, html };
}

/** To the owner of an inbound package: the recipient uploaded files and said they are done. */
export function ownerUploadNotice(i: {
  ownerEmail: string;
  ownerName: string;
  uploaderEmail: string;
  uploaderName: string | null;
  title: string;
  files: { name: string; size: number }[];
  packageUrl: string;
  /** The uploads are encrypted end to end: their names are opaque here, so only the count and size are told. */
  encrypted?: boolean;
}): MailMessage {
  const who = i.uploaderName ? `${i.uploaderName} (${i.uploaderEmail})` : i.uploaderEmail;
  const total = i.files.reduce((n, f) => n + f.size, 0);
  const listed = i.encrypted ? [] : i.files;
  const filesLine = `Files (${i.files.length}, ${formatBytes(total)})${i.encrypted ? ", encrypted end to end: sf download decrypts them and shows their names." : ":"}`;
  const subject = oneLine(`${i.uploaderName ?? i.uploaderEmail} uploaded ${i.files.length} file${i.files.length === 1 ? "" : "s"}: ${i.title}`);
  const text = [
    `Hello ${i.ownerName},`,
    "",
    `${who} uploaded files to your request "${i.title}".`,
    "",
    filesLine,
    ...listed.map((f) => `  - ${f.name} (${formatBytes(f.size)})`),
    "",
    `Fetch them with: sf download <package id>   (package: ${i.packageUrl})`,
  ].join("\n");
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#222">
<p>Hello ${escapeHtml(i.ownerName)},</p>
<p>${escapeHtml(who)} uploaded files to your request <strong>${escapeHtml(i.title)}</strong>.</p>
<p>${escapeHtml(filesLine)}</p>
${listed.length > 0 ? `<ul>${listed.map((f) => `<li>${escapeHtml(f.name)} (${escapeHtml(formatBytes(f.size))})</li>`).join("")}</ul>` : ""}
<p style="font-size:90%;color:#555">Package: ${escapeHtml(i.packageUrl)}</p>
</body></html>`;
  return { to: i.ownerEmail, subject, text, html };
}

/** To a webhook's owner: it kept failing, so the server stopped sending to it. */
export function webhookDisabledNotice(i: { ownerEmail: string; ownerName: string; url: string; failingSince: string; webhookId: string; publicUrl: string }): MailMessage {
  const since = new Date(i.failingSince).toUTCString().replace(/:\d\d GMT$/, " UTC");
  const subject = oneLine(`Webhook disabled: ${i.url}`);
  const text = [
    `Hello ${i.ownerName},`,
    "",
    `Every delivery to your webhook ${i.url} has failed since ${since}, so SpeedyFiles stopped sending to it.`,
    "Events that happen meanwhile are not queued for it; deliveries already waiting are kept and go out once you re-enable it.",
    "",
    "See what went wrong:   sf webhooks deliveries " + i.webhookId,
    "Re-enable it:          sf webhooks enable " + i.webhookId,
    `(or PATCH ${i.publicUrl}/api/v1/webhooks/${i.webhookId} with {"enabled": true})`,
  ].join("\n");
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#222">
<p>Hello ${escapeHtml(i.ownerName)},</p>
<p>Every delivery to your webhook <strong>${escapeHtml(i.url)}</strong> has failed since ${escapeHtml(since)}, so SpeedyFiles stopped sending to it.</p>
<p>Events that happen meanwhile are not queued for it; deliveries already waiting are kept and go out once you re-enable it.</p>
<p style="font-size:90%;color:#555">See what went wrong: <code>sf webhooks deliveries ${escapeHtml(i.webhookId)}</code><br>Re-enable it: <code>sf webhooks enable ${escapeHtml(i.webhookId)}</code></p>
</body></html>`;
  return { to: i.ownerEmail, subject, text, html };
}

/** To a sender: a recipient completed their first download (a receipt, once per recipient). */
export function downloadReceipt(i: {
  ownerEmail: string;
  ownerName: string;
  recipientEmail: string;
  recipientName: string | null;
  title: string;
  what: string;
  at: string;
  packageUrl: string;
}): MailMessage {
  const who = i.recipientName ? `${i.recipientName} (${i.recipientEmail})` : i.recipientEmail;
  const subject = oneLine(`${i.recipientName ?? i.recipientEmail} downloaded ${i.title}`);
  const text = [
    `Hello ${i.ownerName},`,
    "",
    `${who} downloaded ${i.what} of "${i.title}" on ${formatDate(i.at)}.`,
    "",
    "You get this once per recipient. Every download is in the package's activity:",
    `  ${i.packageUrl}`,
  ].join("\n");
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#222">
<p>Hello ${escapeHtml(i.ownerName)},</p>
<p>${escapeHtml(who)} downloaded ${escapeHtml(i.what)} of <strong>${escapeHtml(i.title)}</strong> on ${escapeHtml(formatDate(i.at))}.</p>
<p style="font-size:90%;color:#555">You get this once per recipient. Every download is in the package's activity: ${escapeHtml(i.packageUrl)}</p>
</body></html>`;
  return { to: i.ownerEmail, subject, text, html };
}

/** To a sender: every file reached max_downloads through one recipient's link. */
export function downloadsUsedUpNotice(i: {
  ownerEmail: string;
  ownerName: string;
  recipientEmail: string;
  recipientName: string | null;
  title: string;
  maxDownloads: number;
  packageUrl: string;
  packageId: string;
}): MailMessage {
  const who = i.recipientName ? `${i.recipientName} (${i.recipientEmail})` : i.recipientEmail;
  const subject = oneLine(`Downloads used up: ${i.title} (${i.recipientEmail})`);
  const times = i.maxDownloads === 1 ? "once" : `${i.maxDownloads} times`;
  const text = [
    `Hello ${i.ownerName},`,
    "",
    `${who} has downloaded every file of "${i.title}" ${times}, the limit you set: their link no longer serves files.`,
    "",
    `To allow more: sf packages update ${i.packageId} --max-downloads <n>   (package: ${i.packageUrl})`,
  ].join("\n");
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#222">
<p>Hello ${escapeHtml(i.ownerName)},</p>
<p>${escapeHtml(who)} has downloaded every file of <strong>${escapeHtml(i.title)}</strong> ${escapeHtml(times)}, the limit you set: their link no longer serves files.</p>
<p style="font-size:90%;color:#555">To allow more: <code>sf packages update ${escapeHtml(i.packageId)} --max-downloads &lt;n&gt;</code> (package: ${escapeHtml(i.packageUrl)})</p>
</body></html>`;
  return { to: i.ownerEmail, subject, text, html };
}
