import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { simpleParser, type ParsedMail } from "mailparser";

export interface ReceivedMail {
  /** SMTP envelope, as the server saw it. */
  envelope: { from: string | false; to: string[] };
  /** The parsed message (headers, text, html). */
  parsed: ParsedMail;
  /** The raw message as received. */
  raw: Buffer;
}

export interface TestSmtp {
  port: number;
  /** `smtp://127.0.0.1:<port>` — what SF_SMTP_URL should be. */
  url: string;
  messages: ReceivedMail[];
  /** Resolves with the first message (already received or arriving later) matching `predicate`. */
  waitForMail(predicate?: (m: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /** Resolves with the messages matching `predicate` once there are `n` of them (mail is sent in the background). */
  waitForMails(n: number, predicate?: (m: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

/**
 * A real SMTP server on loopback (the `smtp-server` package), accepting any sender and recipient,
 * without authentication or TLS. STARTTLS is disabled, so it is not advertised and nodemailer
 * stays on the plain connection without any extra URL option.
 */
export async function startTestSmtp(opts: { port?: number; delayMs?: number } = {}): Promise<TestSmtp> {
  const messages: ReceivedMail[] = [];
  const waiters: { predicate: (m: ReceivedMail) => boolean; resolve: (m: ReceivedMail) => void }[] = [];

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    // A slow server: it waits this long before greeting each connection.
    ...(opts.delayMs ? { onConnect: (_session: unknown, callback: () => void) => void setTimeout(callback, opts.delayMs) } : {}),
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", (err) => callback(err));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks);
        simpleParser(raw)
          .then((parsed) => {
            const mail: ReceivedMail = {
              envelope: {
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : false,
                to: session.envelope.rcptTo.map((r) => r.address),
              },
              parsed,
              raw,
            };
            messages.push(mail);
            for (const w of [...waiters]) {
              if (w.predicate(mail)) {
                waiters.splice(waiters.indexOf(w), 1);
                w.resolve(mail);
              }
            }
            callback();
          })
          .catch((err: Error) => callback(err));
      });
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;

  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    waitForMail(predicate = () => true, timeoutMs = 10_000) {
      const found = messages.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise<ReceivedMail>((resolve, reject) => {
        const w = {
          predicate,
          resolve: (m: ReceivedMail) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no matching mail within ${timeoutMs} ms (received ${messages.length})`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async waitForMails(n, predicate = () => true, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.filter(predicate);
        if (found.length >= n) return found;
        if (Date.now() > deadline) throw new Error(`${found.length} of ${n} matching mails within ${timeoutMs} ms (received ${messages.length})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close() {
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
