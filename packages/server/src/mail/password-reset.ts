import type { MailMessage } from "./mailer.js";
import { escapeHtml } from "../util/escape-html.js";

export interface PasswordResetEmailInput {
  email: string;
  name: string;
  /** The page's address with the token in its fragment (`…/reset-password#token=…`). */
  link: string;
  /** When the link stops working (ISO 8601). */
  expiresAt: string;
  /** How long it works, for the sentence ("30 minutes"). */
  minutes: number;
  /** An admin forced the reset (the old password already stopped working). */
  forced: boolean;
  /** Where the sign-in page is, for "ask for a new link". */
  publicUrl: string;
}

const oneLine = (s: string) => s.replace(/[\r\n\t]+/g, " ").trim();
const formatDate = (iso: string) => new Date(iso).toUTCString().replace(/:\d\d GMT$/, " UTC");

/**
 * "Choose a new password": the link to the reset page, how long it works, and what to do when it
 * was not you. The token is in the link only (its fragment, which browsers never send to a
 * server), never in the subject or anywhere else.
 */
export function passwordResetEmail(i: PasswordResetEmailInput): MailMessage {
  const until = formatDate(i.expiresAt);
  const lifetime = i.minutes % 60 === 0 ? `${i.minutes / 60} hour${i.minutes === 60 ? "" : "s"}` : `${i.minutes} minutes`;
  const why = i.forced
    ? "An administrator of SpeedyFiles reset your password: the old one no longer works, and you were signed out everywhere."
    : "Someone (we hope you) asked to choose a new SpeedyFiles password for this address.";
  const notYou = i.forced ? "If you did not expect this, tell your administrator." : "If it was not you, ignore this email: your password stays as it is.";
  const again = `The link works once, for ${lifetime} (until ${until}). After that, ask for a new one on the sign-in page: ${i.publicUrl}/forgot-password`;
  const subject = oneLine(i.forced ? "Your SpeedyFiles password was reset: choose a new one" : "Choose a new SpeedyFiles password");
  const text = [`Hello ${i.name},`, "", why, "", `Choose a new password: ${i.link}`, "", again, notYou].join("\n");
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#222">
<p>Hello ${escapeHtml(i.name)},</p>
<p>${escapeHtml(why)}</p>
<p><a href="${escapeHtml(i.link)}" style="display:inline-block;padding:10px 16px;background:#2557d6;color:#fff;text-decoration:none;border-radius:6px">Choose a new password</a></p>
<p style="font-size:90%;color:#555">Or open: ${escapeHtml(i.link)}<br>${escapeHtml(again)}</p>
<p style="font-size:90%;color:#555">${escapeHtml(notYou)}</p>
</body></html>`;
  return { to: i.email, subject, text, html };
}
