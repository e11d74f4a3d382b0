import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import pino, { type Logger } from "pino";
import { createApp } from "./app.js";
import type { Config } from "./config.js";
import { migrate, openDatabase } from "./db/knex.js";
import { LocalBlobStore } from "./storage/local.js";
import { OutboxMailer, SmtpMailer, type Mailer } from "./mail/mailer.js";
import type { Clock, Services } from "./services/context.js";
import { startSweeper } from "./services/sweeper.js";

export interface StartOptions {
  logger?: Logger;
  clock?: Clock;
  validateResponses?: boolean;
  /** Override the mailer (never needed in production; SF_SMTP_URL decides). */
  mailer?: Mailer;
  /** Run the expiry sweeper on its interval (default true; tests call sweepOnce themselves). */
  sweeper?: boolean;
  /** HTTP timeouts in ms (tests shorten them to see them work). */
  timeouts?: { headersMs?: number; checkIntervalMs?: number };
}

export interface RunningServer {
  url: string;
  server: http.Server;
  services: Services;
  close(graceMs?: number): Promise<void>;
}

export function createLogger(config: Readonly<Config>): Logger {
  return pino({
    level: config.logLevel,
    redact: { paths: ["req.headers.authorization", "req.headers.cookie", "password", "token"], censor: "[redacted]" },
  });
}

/** Opens the database (running migrations), storage and mail; the shared start-up of main and tests. */
export async function buildServices(config: Readonly<Config>, opts: StartOptions = {}): Promise<Services> {
  const logger = opts.logger ?? createLogger(config);
  const db = openDatabase(config.databaseUrl);
  await migrate(db);
  const storage = new LocalBlobStore(config.dataDir);
  await storage.init();
  const mailer =
    opts.mailer ??
    (config.smtpUrl
      ? new SmtpMailer(config.smtpUrl, config.mailFrom)
      : new OutboxMailer(path.join(config.dataDir, "outbox"), config.mailFrom, logger));
  return { config, db, storage, mailer, logger, clock: opts.clock ?? (() => new Date()) };
}

/** Starts the HTTP server on SF_BIND:SF_PORT (port 0 picks a free one). */
export async function startServer(config: Readonly<Config>, opts: StartOptions = {}): Promise<RunningServer> {
  const services = await buildServices(config, opts);
  const app = createApp(services, { validateResponses: opts.validateResponses ?? false });
  const server = http.createServer(
    {
      // Node ends any request still arriving after 5 minutes (408); a multi-GiB upload on a slow
      // link takes longer, so the whole-request limit is off. Slow-loris protection stays through
      // headersTimeout, and an idle socket is cut after `server.timeout`.
      requestTimeout: 0,
      headersTimeout: opts.timeouts?.headersMs ?? 30_000,
      connectionsCheckingInterval: opts.timeouts?.checkIntervalMs ?? 30_000,
      keepAliveTimeout: 5_000,
    },
    app,
  );
  server.timeout = 120_000;
  server.maxHeadersCount = 100;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.bind, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;

  const stopSweeper = opts.sweeper === false ? async () => undefined : startSweeper(services);

  let closing: Promise<void> | undefined;
  const close = (graceMs = 10_000) =>
    (closing ??= (async () => {
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await done;
      clearTimeout(timer);
      await stopSweeper();
      services.mailer.close();
      await services.db.destroy();
    })());

  return { url, server, services, close };
}
