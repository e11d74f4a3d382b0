import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import knexFactory from "knex";
import pino, { type Logger } from "pino";
import { createApp } from "./app.js";
import { checkSpec } from "./http/validator.js";
import type { Config } from "./config.js";
import { closeDatabase, migrate, openDatabase, type Db } from "./db/knex.js";
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
 * SF_DATABASE_URL names a database that cannot be reached, opened or migrated. Its message is one
 * line naming the database (password hidden) and the reason, for an operator to act on.
 */
export class DatabaseUnavailable extends Error {
  constructor(
    readonly database: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot use the database ${database}: ${reason}`, options);
  }
}

const SECRET_PARAM = /pass|secret|key|token|cert/i;

/**
 * A database URL safe to print: the password (and any password-like query parameter, which pg
 * also accepts) replaced by `***`. Userinfo is taken up to the *last* `@`, so a password with a
 * raw `@`, `/` or `#` that a URL parser would misread is still hidden entirely.
 */
export function describeDatabaseUrl(databaseUrl: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(.*)$/is.exec(databaseUrl);
  if (!m) return "(SF_DATABASE_URL, not shown)";
  const [, scheme, rest] = m as unknown as [string, string, string];
  const at = rest.lastIndexOf("@");
  let auth = "";
  let hostAndPath = rest;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(":");
    auth = colon >= 0 ? `${userinfo.slice(0, colon)}:***@` : `${userinfo}@`;
    hostAndPath = rest.slice(at + 1);
  }
  const q = hostAndPath.indexOf("?");
  if (q >= 0) {
    const query = hostAndPath
      .slice(q + 1)
      .split("&")
      .map((pair) => {
        const eq = pair.indexOf("=");
        return eq >= 0 && SECRET_PARAM.test(pair.slice(0, eq)) ? `${pair.slice(0, eq)}=***` : pair;
      })
      .join("&");
    hostAndPath = `${hostAndPath.slice(0, q)}?${query}`;
  }
  return `${scheme}${auth}${hostAndPath}`;
}

/** Every spelling of the URL's secrets (raw and decoded), to scrub them from a driver's message. */
function secretsIn(databaseUrl: string): string[] {
  const out: string[] = [];
  const rest = databaseUrl.replace(/^[a-z][a-z0-9+.-]*:\/\//is, "");
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(":");
    if (colon >= 0) out.push(userinfo.slice(colon + 1));
  }
  for (const [, name, value] of databaseUrl.matchAll(/[?&]([^=&#]+)=([^&#]*)/g)) {
    if (SECRET_PARAM.test(name!)) out.push(value!);
  }
  return [...new Set(out.flatMap((v) => [v, safeDecode(v)]))].filter((v) => v !== "").sort((a, b) => b.length - a.length);
}

/**
 * Whether a URL parser would split the credentials elsewhere than at the last `@` (a raw `/`, `#`
 * or `?` in the password): the driver then takes part of the password for the host, and its
 * message would show that part.
 */
function credentialsMisread(databaseUrl: string): boolean {
  const secrets = secretsIn(databaseUrl);
  if (databaseUrl.startsWith("sqlite://") || secrets.length === 0) return false;
  try {
    const parsed = new URL(databaseUrl);
    const rest = databaseUrl.replace(/^[a-z][a-z0-9+.-]*:\/\//is, "");
    const userinfo = rest.slice(0, Math.max(0, rest.lastIndexOf("@")));
    const raw = userinfo.includes(":") ? userinfo.slice(userinfo.indexOf(":") + 1) : "";
    return raw !== "" && decodeURIComponent(parsed.password) !== safeDecode(raw);
  } catch {
    return true;
  }
}

function safeDecode(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

const HINTS: Record<string, string> = {
  ECONNREFUSED: "connection refused, is the database server running and listening there?",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name could not be resolved",
  ETIMEDOUT: "no answer (timed out)",
  EHOSTUNREACH: "host unreachable",
  "28P01": "wrong user name or password",
};

/** One line saying why: the driver's message (an AggregateError's parts), secrets scrubbed. */
function reasonOf(err: unknown, databaseUrl: string): string {
  if (credentialsMisread(databaseUrl)) {
    return (
      "the URL could not be read as written (the driver's message is not shown: it may hold part of the password); " +
      "percent-encode / # ? @ in the user name and password (%2F %23 %3F %40)"
    );
  }
  const e = err as { message?: string; code?: string; errors?: { message?: string; code?: string }[] };
  let text = e?.message?.trim() || "";
  let code = e?.code;
  if (!text && Array.isArray(e?.errors)) {
    text = [...new Set(e.errors.map((x) => x?.message).filter(Boolean))].join("; ");
    code ??= e.errors.find((x) => x?.code)?.code;
  }
  if (!text) text = code ?? String(err);
  const hint = code ? HINTS[code] : undefined;
  if (hint) text = `${hint} (${text})`;
  for (const secret of secretsIn(databaseUrl)) text = text.split(secret).join("***");
  return text.replace(/\s*\n\s*/g, " ");
}

/**
 * Connects once, quietly, before the real pool does: knex prints a failed connection's stack
 * trace with console.log (outside our logger), which is noise in front of the one clear line.
 */
async function probeDatabase(databaseUrl: string): Promise<void> {
  const quiet = { warn() {}, error() {}, deprecate() {}, debug() {} };
  const probe = databaseUrl.startsWith("sqlite://")
    ? knexFactory({
        client: "better-sqlite3",
        connection: { filename: databaseUrl.slice("sqlite://".length) },
        useNullAsDefault: true,
        pool: { min: 0, max: 1 },
        log: quiet,
      })
    : knexFactory({
        client: "pg",
        connection: { connectionString: databaseUrl, connectionTimeoutMillis: 5000 },
        pool: { min: 0, max: 1 },
        acquireConnectionTimeout: 10_000,
        log: quiet,
      });
  try {
    await probe.raw("select 1");
  } finally {
    await probe.destroy().catch(() => undefined);
  }
}

/**
 * Opens the database and brings its schema up to date, or throws DatabaseUnavailable (unreachable
 * server, unknown host, missing database, unwritable SQLite path, failed migration).
 */
export async function openMigratedDatabase(databaseUrl: string): Promise<Db> {
  let db: Db | undefined;
  try {
    db = openDatabase(databaseUrl);
    await probeDatabase(databaseUrl);
    await migrate(db);
    return db;
  } catch (err) {
    await db?.destroy().catch(() => undefined);
    throw new DatabaseUnavailable(describeDatabaseUrl(databaseUrl), reasonOf(err, databaseUrl), { cause: err });
  }
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

/** Opens the database (running migrations), storage and mail; the shared start-up of main and tests. */
export async function buildServices(config: Readonly<Config>, opts: StartOptions = {}): Promise<Services> {
  const logger = opts.logger ?? createLogger(config);
  const db = await openMigratedDatabase(config.databaseUrl);
  const storage = await openBlobStore(config, logger);
  const uploads = await createUploadStore({
    dataDir: config.dataDir,
    expiryHours: config.uploadExpiryHours,
    // With S3 storage the pieces of unfinished uploads are in the bucket too (any process resumes them).
    ...(config.storage === "s3" && config.s3 ? { s3: { config: config.s3, db } } : {}),
    // What a restart costs a resumable upload: one read of its stored bytes (see upload-store.ts).
    onRebuilt: (uploadId, bytes, ms) => logger.info({ uploadId, bytes, ms }, "rebuilt an upload's SHA-256 state from its stored bytes"),
  });
  const mailer =
    opts.mailer ??
    (config.smtpUrl
      ? new SmtpMailer(config.smtpUrl, config.mailFrom)
      : new OutboxMailer(outboxDir(config.dataDir), config.mailFrom, logger));
  let key: SealingKey;
  try {
    key = await resolveSealingKey(config, logger);
  } catch (err) {
    mailer.close();
    await closeDatabase(db);
    throw err;
  }
  return { config, db, storage, uploads, mailer, sealingKey: key, mailWakeup: new Wakeup(), logger, clock: opts.clock ?? (() => new Date()) };
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
  const services = await buildServices(config, opts);
  // A second process on one SQLite database stops here, before it serves or sweeps anything (the
  // database check comes first, so a database that cannot be opened is reported as such).
  let releaseLock: () => void;
  try {
    releaseLock = holdInstanceLock(config.databaseUrl);
  } catch (err) {
    services.mailer.close();
    await closeDatabase(services.db);
    throw err;
  }
  // Background jobs (src/jobs/): the expiry sweeper, the webhook delivery worker and the mail worker.
  const stops: (() => Promise<void>)[] = [];
  const stopBackground = async () => {
    await Promise.all(stops.splice(0).map((stop) => stop()));
  };
  try {
    await opts.beforeListen?.(services);
    if (opts.sweeper !== false) stops.push(startSweeper(services));
    if (opts.webhookWorker !== false) stops.push(startWebhookWorker(services));
    if (opts.mailWorker !== false) stops.push(startMailWorker(services));
  } catch (err) {
    await stopBackground();
    services.mailer.close();
    await closeDatabase(services.db);
    releaseLock();
    throw err;
  }
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

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, config.bind, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await stopBackground();
    services.mailer.close();
    await closeDatabase(services.db);
    releaseLock();
    throw err;
  }
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
      await stopBackground();
      services.mailer.close();
      services.storage.close?.();
      services.uploads.close?.();
      await closeDatabase(services.db);
      releaseLock();
    })());

  return { url, server, services, close };
}
