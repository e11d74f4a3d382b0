import crypto from "node:crypto";
import fs from "node:fs";
import { InvalidArgumentError } from "commander";

/** Commander parser for whole numbers ≥ 1 (usage error, exit 2, otherwise). */
export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError("expected a whole number of at least 1");
  }
  return Number(value);
}

/** What the server says of a recipient's email (`mail_state`; an older server only says `email_sent`). */
export interface MailStatus {
  recipient_email: string;
  mail_state?: "queued" | "sent" | "failed" | null;
  mail_attempts?: number;
  mail_error?: string | null;
  email_sent?: boolean;
  email_error?: string | null;
}

/** `queued` / `sent` / `failed`, from either field set (null: not known, as for a link of an older release). */
export function mailStateOf(l: MailStatus): "queued" | "sent" | "failed" | null {
  if (l.mail_state !== undefined) return l.mail_state;
  if (l.email_sent !== undefined) return l.email_sent ? "sent" : "failed";
  return null;
}

/** The SHA-256 (hex) of a local file, streamed: whether a file is already where it should be. */
export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
