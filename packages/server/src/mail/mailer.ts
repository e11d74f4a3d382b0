import crypto from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import nodemailer, { type Transporter, type TransportOptions } from "nodemailer";
import type { Logger } from "pino";
import { redactUrl } from "../config.js";

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Where mail goes without SMTP: `.eml` files in this folder. */
export function outboxDir(dataDir: string): string {
  return path.join(dataDir, "outbox");
}

/**
 * Where this server's mail goes, for the start banner: the SMTP server's host and port (never its
 * user or password), or the outbox folder.
 */
export function mailDestination(config: { smtpUrl: string | null; dataDir: string }): string {
  if (!config.smtpUrl) return `no SF_SMTP_URL: each email is written to ${outboxDir(config.dataDir)}`;
  const u = new URL(config.smtpUrl);
  const port = u.port || (u.protocol === "smtps:" ? "465" : "587");
  return `SMTP ${u.hostname}:${port}`;
}

/** Sends mail. `send` rejects when the message could not be handed over. */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** SMTP through nodemailer (`SF_SMTP_URL`, e.g. `smtp://user:pass@mail.example.com:587`). */
export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;

  constructor(
    smtpUrl: string,
    private readonly from: string,
  ) {
    this.transport = nodemailer.createTransport(smtpUrl, {
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    } as TransportOptions);
    this.describe = `SMTP ${redactUrl(smtpUrl)}`;
  }

  readonly describe: string;

  async send(m: MailMessage): Promise<void> {
    await this.transport.sendMail({ from: this.from, to: m.to, subject: m.subject, text: m.text, html: m.html });
  }

  close(): void {
    this.transport.close();
  }
}

/**
 * With no SMTP configured (the quickstart) each message becomes an `.eml` file in
 * `<dataDir>/outbox/`, and the log says where, so a self-hoster can open it in a mail client.
 */
export class OutboxMailer implements Mailer {
  private readonly transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });

  constructor(
    private readonly dir: string,
    private readonly from: string,
    private readonly logger: Logger,
  ) {}

  async send(m: MailMessage): Promise<void> {
    const info = (await this.transport.sendMail({ from: this.from, to: m.to, subject: m.subject, text: m.text, html: m.html })) as {
      message: Buffer;
    };
    await fsp.mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, `${new Date().toISOString().replace(/[:.]/g, "-")}-${crypto.randomUUID().slice(0, 8)}.eml`);
    await fsp.writeFile(file, info.message, { mode: 0o600 });
    this.logger.info({ file }, "email written to the outbox folder (no SF_SMTP_URL configured)");
  }

  close(): void {}
}

/** A short reason for a failed send, without credentials or message content. */
export function mailErrorSummary(err: unknown): string {
  const e = err as { code?: string; responseCode?: number; message?: string };
  const parts = [e.code, e.responseCode ? `SMTP ${e.responseCode}` : undefined].filter(Boolean);
  const msg = (e.message ?? "unknown error")
    .replace(/\/\/[^@\s/]*@/g, "//***@")
    .replace(/\/l\/[A-Za-z0-9_-]{43}/g, "/l/***")
    .slice(0, 200);
  return parts.length > 0 ? `${parts.join(" ")}: ${msg}` : msg;
}
