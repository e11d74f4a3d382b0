import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import pino, { type Logger } from "pino";
import { createApp } from "./app.js";
import { checkSpec } from "./http/validator.js";
import type { Config } from "./config.js";
import { closeDatabase, type Db } from "./db/knex.js";
import { openMigratedDatabase } from "./db/open.js";
import { holdInstanceLock } from "./db/instance-lock.js";
import { LocalBlobStore } from "./storage/local.js";
import { S3BlobStore } from "./storage/s3.js";
import type { BlobStore } from "./storage/blob-store.js";
import { createUploadStore } from "./storage/upload-store.js";
import { OutboxMailer, outboxDir, SmtpMailer, type Mailer } from "./mail/mailer.js";
import { dataDirKey, sealingKey, type SealingKey } from "./mail/sealing.js";
import { Wakeup } from "./events/wakeup.js";
import type { Clock, Services } from "./services/context.js";
import { startSweeper } from "./jobs/sweeper.js";
import { startWebhookWorker } from "./jobs/webhook-worker.js";
import { startMailWorker } from "./jobs/mail-worker.js";
import { startDiagnostics } from "./jobs/diagnostics.js";
import { Metrics } from "./metrics/registry.js";
import { startMetricsListener } from "./http/metrics-listener.js";

export { DatabaseUnavailable, openMigratedDatabase } from "./db/open.js";

export interface StartOptions {
  logger?: Logger;
  clock?: Clock;
  validateResponses?: boolean;
  /** Override the mailer (never needed in production; SF_SMTP_URL decides). */
  mailer?: Mailer;
  /** Run the expiry sweeper on its interval (default true; tests call sweepOnce themselves). */
  sweeper?: boolean;
  /** Run the webhook delivery worker (default true; tests that drive it call deliverDue). */
  webhookWorker?: boolean;
  /** Run the mail worker (default true; tests that drive it call sendDueMail). */
  mailWorker?: boolean;
  /** HTTP timeouts in ms (tests shorten them to see them work). */
  timeouts?: { headersMs?: number; checkIntervalMs?: number };
  /**
   * Start-up work that must be done before the port opens (main creates the first admin here):
   * once /health answers, a client may rely on everything being in place.
   */
  beforeListen?: (services: Services) => Promise<void>;
}

export interface RunningServer {
  url: string;
  /** SF_METRICS_LISTEN's listener (`http://host:port`), when configured. */
  metricsUrl?: string;
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

/**
 * The configured blob store. An unreachable bucket does not stop the start (the store may come
 * back; /health reports it meanwhile), but it is logged.
 */
export async function openBlobStore(config: Readonly<Config>, logger: Logger): Promise<BlobStore> {
  if (config.storage === "s3" && config.s3) {
    const store = new S3BlobStore(config.s3, { maxFileBytes: config.maxFileBytes });
    await store.check().catch((err: unknown) => logger.warn({ bucket: config.s3!.bucket, err: String(err) }, "the S3 bucket cannot be reached"));
    return store;
  }
  const store = new LocalBlobStore(config.dataDir, { accelRedirect: config.accelRedirect });
  await store.init();
  return store;
}

/**
 * What a starting or running server holds, released by one sequence on every path (a failed
 * start at any step, or close): background jobs stopped first, then mail, storage, uploads and
 * the database closed, the instance lock released last. Each part is released once, and only
 * if it was taken.
 */
class Held {
  db?: Db;
  storage?: BlobStore;
  uploads?: Services["uploads"];
  mailer?: Mailer;
  releaseLock?: () => void;
  readonly stops: (() => Promise<void>)[] = [];

  async release(): Promise<void> {
    await Promise.all(this.stops.splice(0).map((stop) => stop()));
    this.mailer?.close();
    this.storage?.close?.();
    this.uploads?.close?.();
    if (this.db) await closeDatabase(this.db);
    this.releaseLock?.();
    this.db = this.storage = this.uploads = this.mailer = this.releaseLock = undefined;
  }

  /** Runs `step`; when it throws, releases everything held so far and rethrows. */
  async orRelease<T>(step: () => Promise<T> | T): Promise<T> {
    try {
      return await step();
    } catch (err) {
      await this.release();
      throw err;
    }
  }
}

async function openServices(config: Readonly<Config>, opts: StartOptions, held: Held): Promise<Services> {
  const logger = opts.logger ?? createLogger(config);
  const db = (held.db = await openMigratedDatabase(config.databaseUrl));
  return held.orRelease(async () => {
    const storage = (held.storage = await openBlobStore(config, logger));
    const uploads = (held.uploads = await createUploadStore({
      dataDir: config.dataDir,
      expiryHours: config.uploadExpiryHours,
      // With S3 storage the pieces of unfinished uploads are in the bucket too (any process resumes them).
      ...(config.storage === "s3" && config.s3 ? { s3: { config: config.s3, db } } : {}),
      // What a restart costs a resumable upload: one read of its stored bytes (see storage/tus-*.ts).
      onRebuilt: (uploadId, bytes, ms) => logger.info({ uploadId, bytes, ms }, "rebuilt an upload's SHA-256 state from its stored bytes"),
    }));
    const mailer = (held.mailer =
      opts.mailer ?? (config.smtpUrl ? new SmtpMailer(config.smtpUrl, config.mailFrom) : new OutboxMailer(outboxDir(config.dataDir), config.mailFrom, logger)));
    const key = await resolveSealingKey(config, logger);
    const clock = opts.clock ?? (() => new Date());
    const metrics = new Metrics({
      enabled: config.metricsToken !== null || config.metricsListen !== null,
      db,
      clock,
      dbTimeoutMs: config.metricsDbTimeoutMs,
      onDbFailure: (err) => logger.warn({ err: String(err) }, "metrics: could not read the queues from the database; the scrape answered the previous values"),
    });
    return { config, db, storage, uploads, mailer, sealingKey: key, mailWakeup: new Wakeup(), logger, clock, metrics };
  });
}

/** Opens the database (running migrations), storage and mail; the shared start-up of main and tests. */
export async function buildServices(config: Readonly<Config>, opts: StartOptions = {}): Promise<Services> {
  return openServices(config, opts, new Held());
}

/**
 * The key that seals queued mail: SF_SECRET_KEY, or else one made once in `<dataDir>/secret.key`
 * (0600), which suits the single box. With PostgreSQL, processes may not share a data dir: each
 * claims only the mail sealed with its own key, so a message is still sent, by the process that
 * queued it (and waits for it after a crash). The key is never stored in the database, where the
 * sealed bodies are; the log says to set SF_SECRET_KEY so every process can send every message.
 */
async function resolveSealingKey(config: Readonly<Config>, logger: Logger): Promise<SealingKey> {
  if (config.secretKey) return sealingKey(config.secretKey);
  const key = sealingKey(await dataDirKey(config.dataDir));
  if (!config.databaseUrl.startsWith("sqlite://")) {
    logger.warn(
      { keyFile: path.join(config.dataDir, "secret.key") },
      "SF_SECRET_KEY is not set: queued emails are sealed with this data dir's key, so only server processes sharing this data dir can send them; set the same SF_SECRET_KEY on every process",
    );
  }
  return key;
}

/**
 * Starts the HTTP server on SF_BIND:SF_PORT (port 0 picks a free one). The port opens last, when
 * the server is ready: database migrated, `beforeListen` done, background jobs started. A health check
 * that gets an answer can therefore rely on all of it (a script waiting for /health and then
 * logging in as SF_ADMIN_EMAIL used to race the creation of that account).
 */
export async function startServer(config: Readonly<Config>, opts: StartOptions = {}): Promise<RunningServer> {
  await checkSpec();
  const held = new Held();
  const services = await openServices(config, opts, held);
  // A second process on one SQLite database stops here, before it serves or sweeps anything (the
  // database check comes first, so a database that cannot be opened is reported as such).
  await held.orRelease(async () => {
    held.releaseLock = holdInstanceLock(config.databaseUrl);
    await opts.beforeListen?.(services);
    // Background jobs (src/jobs/): the expiry sweeper, the webhook delivery worker, the mail worker
    // and, when asked for, the diagnostics lines.
    if (opts.sweeper !== false) held.stops.push(startSweeper(services));
    if (opts.webhookWorker !== false) held.stops.push(startWebhookWorker(services));
    if (opts.mailWorker !== false) held.stops.push(startMailWorker(services));
    held.stops.push(startDiagnostics(services));
  });
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

  await held.orRelease(
    () =>
      new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.port, config.bind, () => {
          server.off("error", reject);
          resolve();
        });
      }),
  );
  // SF_METRICS_LISTEN: /metrics alone, on an address of its own; closed with the rest (held.stops).
  const listen = config.metricsListen;
  const metricsListener = listen
    ? await held.orRelease(async () => {
        try {
          return await startMetricsListener(services.metrics, listen.host, listen.port, services.logger);
        } catch (err) {
          server.close();
          throw err;
        }
      })
    : undefined;
  if (metricsListener) held.stops.push(() => metricsListener.close());
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;

  let closing: Promise<void> | undefined;
  const close = (graceMs = 10_000) =>
    (closing ??= (async () => {
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await done;
      clearTimeout(timer);
      await held.release();
    })());

  return { url, server, services, close, ...(metricsListener ? { metricsUrl: metricsListener.url } : {}) };
}
