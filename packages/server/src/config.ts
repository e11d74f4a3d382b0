import path from "node:path";
import { type AllowHosts, parseAllowHosts } from "./webhooks/addresses.js";
import { DEFAULT_RETRY_SCHEDULE } from "./webhooks/schedule.js";
import { credentialsMisread, redactUrl } from "./util/redact-url.js";
import { readMetricsConfig } from "./config-metrics.js";
import { readSsoConfig, type SsoConfig } from "./config-sso.js";
export type { SsoConfig } from "./config-sso.js";

/** The largest file an S3 upload takes: 10,000 parts of 64 MiB (storage/s3.ts holds a part in memory). */
export const S3_MAX_FILE_BYTES = 10_000 * 64 * 1024 * 1024;

/** Everything the server reads from the environment, validated once at start. */
export interface Config {
  port: number;
  bind: string;
  publicUrl: string;
  dataDir: string;
  databaseUrl: string;
  adminEmail: string | null;
  adminPassword: string | null;
  logLevel: string;
  smtpUrl: string | null;
  mailFrom: string;
  maxFileBytes: number;
  maxFilesPerPackage: number;
  maxPackageBytes: number;
  maxTtlDays: number;
  trustProxy: string | false;
  loginMaxFailuresPerIp: number;
  loginMaxFailuresPerAccount: number;
  loginWindowSeconds: number;
  linkMaxFailuresPerIp: number;
  linkWindowSeconds: number;
  /** Wrong passwords allowed per link (from all addresses) within the link window. */
  linkMaxPasswordFailures: number;
  /** A web session ends after this many minutes without a request. */
  sessionIdleMinutes: number;
  /** A web session ends this many hours after sign-in, however active. */
  sessionMaxHours: number;
  sweepIntervalSeconds: number;
  /** Seconds between the `diagnostics` log lines (memory, fds, event-loop delay, DB pool); 0: none. */
  diagnosticsIntervalSeconds: number;
  retentionDays: number;
  /** SF_WEBHOOK_ALLOW_HOSTS: the private hosts and networks webhooks may reach all the same. */
  webhookAllowHosts: AllowHosts;
  /** Seconds before each retry of a failed delivery; after the last, the delivery has failed. */
  webhookRetrySchedule: number[];
  webhookTimeoutSeconds: number;
  webhookDisableAfterHours: number;
  webhookPollMs: number;
  /** Failed attempts in a row to one receiver origin that open its circuit. */
  webhookCircuitFailures: number;
  /** The first cool-off of an open circuit, in seconds; it doubles each time the circuit opens again. */
  webhookCircuitSeconds: number;
  /** Webhooks one user may have. */
  webhooksPerUserMax: number;
  /** Where file bytes live: `local` (under SF_DATA_DIR, the default) or `s3`. */
  storage: "local" | "s3";
  /** The S3-compatible bucket: set when `storage` is `s3` (or SF_S3_BUCKET names one, for `storage migrate`). */
  s3: S3Config | null;
  /**
   * Local disk behind nginx: downloads answer `X-Accel-Redirect: <prefix><blob path>` and nginx
   * sends the bytes from an `internal` location. Null: the server sends them itself.
   */
  accelRedirect: string | null;
  /** An unfinished resumable (tus) upload is removed this many hours after it was started. */
  uploadExpiryHours: number;
  /** Stored bytes no row refers to are removed by the sweeper once this old (a crash between store and commit). */
  orphanGraceHours: number;
  /**
   * SF_SECRET_KEY: the 32-byte key that seals queued mail (which may carry a link's secret).
   * Null: a key made once in `<dataDir>/secret.key` (see mail/sealing.ts).
   */
  secretKey: Buffer | null;
  /** A message is given up after this many failed attempts… */
  mailMaxAttempts: number;
  /** …or this many hours after it was queued, whichever comes first. */
  mailGiveUpHours: number;
  /** The delay before the first retry; it doubles with each failed attempt… */
  mailRetryBaseSeconds: number;
  /** …up to this. */
  mailRetryMaxSeconds: number;
  /** How often the mail worker looks for due messages (it is also woken when this process queues one). */
  mailPollMs: number;
  /** Trust policies may name an `http://` OIDC issuer (tests and labs only). */
  oidcAllowInsecureIssuers: boolean;
  /** A password reset link works this many minutes. */
  passwordResetMinutes: number;
  /** Reset emails asked for one address within the reset window (whether or not it has an account). */
  passwordResetMaxPerAddress: number;
  /** Reset emails asked for from one client address within the reset window. */
  passwordResetMaxPerIp: number;
  /** The window of both reset limits, in seconds. */
  passwordResetWindowSeconds: number;
  /**
   * SF_METRICS_TOKEN: `GET /metrics` on the main port answers a request carrying
   * `Authorization: Bearer <this>`. Null: not served there. Never logged.
   */
  metricsToken: string | null;
  /** SF_METRICS_LISTEN: a second listener that serves only `/metrics`, without a token. Null: none. */
  metricsListen: { host: string; port: number } | null;
  /** How long a scrape waits for its database figures (queues, open uploads) before it answers without them. */
  metricsDbTimeoutMs: number;
  /** Single sign-on through an OpenID provider (SF_SSO_*); null: off. */
  sso: SsoConfig | null;
  /** SF_PASSWORD_LOGIN: false turns password sign-in off (the sign-in page, `POST /auth/token`); needs `sso`. */
  passwordLogin: boolean;
}

export interface S3Config {
  bucket: string;
  region: string;
  /** For S3-compatible stores (MinIO, Ceph, R2…); null: AWS itself. */
  endpoint: string | null;
  forcePathStyle: boolean;
  /** Both or neither; neither: the AWS default credential chain (environment, profile, instance role). */
  accessKeyId: string | null;
  secretAccessKey: string | null;
  /** Prepended to every object key (e.g. `speedyfiles/`). */
  prefix: string;
  /** File downloads answer 302 to a presigned GET URL of the object. */
  presignDownloads: boolean;
  /** How long a presigned URL works. */
  presignSeconds: number;
}

export class ConfigError extends Error {}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const GiB = 1024 ** 3;

/**
 * Reads `SF_*` variables. Collects every problem and throws one ConfigError listing them all,
 * so an operator fixes the whole environment in one go.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const problems: string[] = [];

  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    if (!/^\d+$/.test(raw.trim())) {
      problems.push(`${name} must be a whole number (got "${raw}")`);
      return def;
    }
    const n = Number(raw.trim());
    if (n < min || n > max) problems.push(`${name} must be between ${min} and ${max} (got ${n})`);
    return n;
  };
  const str = (name: string): string | null => {
    const raw = env[name];
    return raw === undefined || raw.trim() === "" ? null : raw.trim();
  };

  const port = int("SF_PORT", 8080, 0, 65535);
  const bind = str("SF_BIND") ?? "127.0.0.1";

  // Only a value the operator set is checked: the default is derived from SF_PORT, and a bad
  // SF_PORT must be reported once, as itself, not again as an SF_PUBLIC_URL that was never set.
  let publicUrl = str("SF_PUBLIC_URL") ?? `http://localhost:${port}`;
  if (str("SF_PUBLIC_URL") !== null) {
    try {
      const u = new URL(publicUrl);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("protocol");
      // It is printed, logged and put into every email: it must hold no credentials.
      if (u.username !== "" || u.password !== "") problems.push(`SF_PUBLIC_URL must not hold a user name or password (got "${redactUrl(publicUrl)}")`);
      publicUrl = publicUrl.replace(/\/+$/, "");
    } catch {
      problems.push(`SF_PUBLIC_URL must be an http(s) URL (got "${redactUrl(publicUrl)}")`);
    }
  }

  const dataDir = path.resolve(str("SF_DATA_DIR") ?? "./data");
  const databaseUrl = str("SF_DATABASE_URL") ?? `sqlite://${path.join(dataDir, "speedyfiles.db")}`;
  if (!/^(sqlite|postgres|postgresql):\/\//.test(databaseUrl)) {
    problems.push(`SF_DATABASE_URL must start with sqlite:// or postgres:// (got "${redactUrl(databaseUrl)}")`);
  }

  const adminEmail = str("SF_ADMIN_EMAIL");
  const adminPassword = str("SF_ADMIN_PASSWORD");
  if ((adminEmail === null) !== (adminPassword === null)) {
    problems.push("SF_ADMIN_EMAIL and SF_ADMIN_PASSWORD must be set together");
  }
  if (adminEmail !== null && !/^[^\s@]+@[^\s@]+$/.test(adminEmail)) {
    problems.push(`SF_ADMIN_EMAIL is not an email address (got "${adminEmail}")`);
  }
  if (adminPassword !== null && adminPassword.length < 8) {
    problems.push("SF_ADMIN_PASSWORD must be at least 8 characters");
  }

  const logLevel = (str("SF_LOG_LEVEL") ?? "info").toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`SF_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")} (got "${logLevel}")`);
  }

  const smtpUrl = str("SF_SMTP_URL");
  if (smtpUrl !== null && !/^smtps?:\/\//.test(smtpUrl)) {
    problems.push(`SF_SMTP_URL must start with smtp:// or smtps:// (got "${redactUrl(smtpUrl)}")`);
  } else if (smtpUrl !== null && (!URL.canParse(smtpUrl) || credentialsMisread(smtpUrl))) {
    // nodemailer reads it with a WHATWG parser: a raw / # ? in the password ends the user part there.
    problems.push(`SF_SMTP_URL cannot be read as written (got "${redactUrl(smtpUrl)}"): percent-encode / # ? @ : in the user name and password (%2F %23 %3F %40 %3A)`);
  }
  const mailFrom = str("SF_MAIL_FROM") ?? "SpeedyFiles <no-reply@localhost>";

  const trustRaw = str("SF_TRUST_PROXY");
  const trustProxy: string | false = trustRaw === null || trustRaw === "false" ? false : trustRaw;

  const bool = (name: string, def: boolean): boolean => {
    const raw = str(name);
    if (raw === null) return def;
    if (/^(true|1|yes)$/i.test(raw)) return true;
    if (/^(false|0|no)$/i.test(raw)) return false;
    problems.push(`${name} must be true or false (got "${raw}")`);
    return def;
  };

  // Removed: it let every user's webhooks reach every internal address. Set to true it asked for
  // that, which the server no longer grants: stop, and say what to set instead.
  if (str("SF_WEBHOOK_ALLOW_PRIVATE") !== null && !/^(false|0|no)$/i.test(str("SF_WEBHOOK_ALLOW_PRIVATE")!)) {
    problems.push(
      "SF_WEBHOOK_ALLOW_PRIVATE was removed: name the private hosts and networks webhooks may reach in SF_WEBHOOK_ALLOW_HOSTS instead (comma-separated host names, addresses and CIDRs, e.g. SF_WEBHOOK_ALLOW_HOSTS=hooks.internal,10.1.2.0/24), and unset SF_WEBHOOK_ALLOW_PRIVATE",
    );
  }
  const allowParsed = parseAllowHosts(str("SF_WEBHOOK_ALLOW_HOSTS") ?? "");
  for (const p of allowParsed.problems) problems.push(`SF_WEBHOOK_ALLOW_HOSTS: ${p}`);
  const webhookAllowHosts = allowParsed.hosts;

  let webhookRetrySchedule = DEFAULT_RETRY_SCHEDULE;
  const scheduleRaw = str("SF_WEBHOOK_RETRY_SCHEDULE");
  if (scheduleRaw !== null) {
    const parts = scheduleRaw.split(",").map((p) => p.trim());
    if (parts.length === 0 || parts.length > 50 || parts.some((p) => !/^\d+(\.\d+)?$/.test(p) || Number(p) > 7 * 86_400)) {
      problems.push(`SF_WEBHOOK_RETRY_SCHEDULE must be up to 50 comma-separated delays in seconds, each at most a week (got "${scheduleRaw}")`);
    } else {
      webhookRetrySchedule = parts.map(Number);
    }
  }

  // Fractional seconds are allowed (tests retry within a second).
  const seconds = (name: string, def: number, min: number, max: number): number => {
    const raw = str(name);
    if (raw === null) return def;
    if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name} must be a number of seconds between ${min} and ${max} (got "${raw}")`);
      return def;
    }
    return Number(raw);
  };

  let secretKey: Buffer | null = null;
  const secretRaw = str("SF_SECRET_KEY");
  if (secretRaw !== null) {
    // 64 hex digits, or base64 (standard or url-safe) of 32 bytes; the value is never echoed.
    const key = /^[0-9a-f]{64}$/i.test(secretRaw) ? Buffer.from(secretRaw, "hex") : /^[A-Za-z0-9+/_-]{43}=?$/.test(secretRaw) ? Buffer.from(secretRaw, "base64") : null;
    if (key?.length === 32) secretKey = key;
    else problems.push("SF_SECRET_KEY must be 32 bytes, as 64 hex digits or base64 (make one with: openssl rand -base64 32)");
  }

  const storage = (str("SF_STORAGE") ?? "local").toLowerCase();
  if (storage !== "local" && storage !== "s3") problems.push(`SF_STORAGE must be local or s3 (got "${storage}")`);
  // Read with SF_STORAGE=local too when a bucket is named: `storage migrate --to s3` runs on a
  // local-storage configuration and needs the bucket it copies to.
  const s3 = storage === "s3" || str("SF_S3_BUCKET") !== null ? s3Config() : null;
  const accelRedirect = str("SF_ACCEL_REDIRECT");
  if (accelRedirect !== null) {
    if (!/^\/([A-Za-z0-9._~-]+\/)+$/.test(accelRedirect)) {
      problems.push(`SF_ACCEL_REDIRECT must be a URI path that starts and ends with "/", such as /_sf_blobs/ (got "${accelRedirect}")`);
    }
    if (storage === "s3") problems.push("SF_ACCEL_REDIRECT is for local storage behind nginx (with SF_STORAGE=s3, use SF_S3_PRESIGN_DOWNLOADS)");
  }

  // Read once: s3Config() has read it already when a bucket is named.
  const presignAsked = s3 ? s3.presignDownloads : bool("SF_S3_PRESIGN_DOWNLOADS", false);
  if (storage === "local" && presignAsked) {
    problems.push("SF_S3_PRESIGN_DOWNLOADS is for SF_STORAGE=s3 (with local storage behind nginx, use SF_ACCEL_REDIRECT)");
  }

  function s3Config(): S3Config {
    const bucket = str("SF_S3_BUCKET");
    // Bucket naming rules of S3 (3-63 characters, lowercase letters, digits, dots and hyphens).
    if (bucket === null) problems.push("SF_S3_BUCKET is required with SF_STORAGE=s3");
    else if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) problems.push(`SF_S3_BUCKET is not a valid bucket name (got "${bucket}")`);
    const region = str("SF_S3_REGION") ?? env.AWS_REGION ?? "us-east-1";
    const endpoint = str("SF_S3_ENDPOINT");
    if (endpoint !== null) {
      try {
        const u = new URL(endpoint);
        if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("protocol");
        if (u.username !== "" || u.password !== "") {
          problems.push(`SF_S3_ENDPOINT must not hold a user name or password (got "${redactUrl(endpoint)}"): the keys go in SF_S3_ACCESS_KEY_ID and SF_S3_SECRET_ACCESS_KEY`);
        }
      } catch {
        problems.push(`SF_S3_ENDPOINT must be an http(s) URL (got "${redactUrl(endpoint)}")`);
      }
    }
    const accessKeyId = str("SF_S3_ACCESS_KEY_ID");
    const secretAccessKey = str("SF_S3_SECRET_ACCESS_KEY");
    if ((accessKeyId === null) !== (secretAccessKey === null)) {
      problems.push("SF_S3_ACCESS_KEY_ID and SF_S3_SECRET_ACCESS_KEY must be set together (or neither, for the AWS default credential chain)");
    }
    const prefix = str("SF_S3_PREFIX") ?? "";
    if (prefix !== "" && !/^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*\/?$/.test(prefix)) {
      problems.push(`SF_S3_PREFIX must be letters, digits, -_.!*'() and "/" between names (got "${prefix}")`);
    } else if (prefix.split("/").some((seg) => seg === "." || seg === "..")) {
      // Some stores and proxies resolve them as paths: the objects would land outside the prefix.
      problems.push(`SF_S3_PREFIX must not have "." or ".." segments (got "${prefix}")`);
    }
    return {
      bucket: bucket ?? "",
      region,
      endpoint: endpoint?.replace(/\/+$/, "") ?? null,
      forcePathStyle: bool("SF_S3_FORCE_PATH_STYLE", false),
      accessKeyId,
      secretAccessKey,
      prefix,
      presignDownloads: bool("SF_S3_PRESIGN_DOWNLOADS", false),
      // SigV4 presigned URLs work at most 7 days.
      presignSeconds: int("SF_S3_PRESIGN_SECONDS", 300, 1, 604_800),
    };
  }

  const config: Config = {
    port,
    bind,
    publicUrl,
    dataDir,
    databaseUrl,
    adminEmail: adminEmail?.toLowerCase() ?? null,
    adminPassword,
    logLevel,
    smtpUrl,
    mailFrom,
    maxFileBytes: int("SF_MAX_FILE_BYTES", 10 * GiB, 1, Number.MAX_SAFE_INTEGER),
    maxFilesPerPackage: int("SF_MAX_FILES_PER_PACKAGE", 10_000, 1, 1_000_000),
    maxPackageBytes: int("SF_MAX_PACKAGE_BYTES", 50 * GiB, 1, Number.MAX_SAFE_INTEGER),
    maxTtlDays: int("SF_MAX_TTL_DAYS", 365, 1, 365),
    trustProxy,
    loginMaxFailuresPerIp: int("SF_LOGIN_MAX_FAILURES_PER_IP", 20, 1, 1_000_000),
    loginMaxFailuresPerAccount: int("SF_LOGIN_MAX_FAILURES_PER_ACCOUNT", 10, 1, 1_000_000),
    loginWindowSeconds: int("SF_LOGIN_WINDOW_SECONDS", 900, 1, 86_400),
    linkMaxFailuresPerIp: int("SF_LINK_MAX_FAILURES_PER_IP", 30, 1, 1_000_000),
    linkWindowSeconds: int("SF_LINK_WINDOW_SECONDS", 600, 1, 86_400),
    linkMaxPasswordFailures: int("SF_LINK_MAX_PASSWORD_FAILURES", 10, 1, 1_000_000),
    sessionIdleMinutes: int("SF_SESSION_IDLE_MINUTES", 720, 1, 525_600),
    sessionMaxHours: int("SF_SESSION_MAX_HOURS", 168, 1, 8760),
    sweepIntervalSeconds: int("SF_SWEEP_INTERVAL_SECONDS", 60, 0, 86_400),
    diagnosticsIntervalSeconds: int("SF_DIAGNOSTICS_INTERVAL_SECONDS", 0, 0, 86_400),
    retentionDays: int("SF_RETENTION_DAYS", 0, 0, 3650),
    webhookAllowHosts,
    webhookRetrySchedule,
    webhookTimeoutSeconds: int("SF_WEBHOOK_TIMEOUT_SECONDS", 10, 1, 60),
    webhookDisableAfterHours: int("SF_WEBHOOK_DISABLE_AFTER_HOURS", 72, 1, 8760),
    webhookPollMs: int("SF_WEBHOOK_POLL_MS", 500, 10, 60_000),
    webhookCircuitFailures: int("SF_WEBHOOK_CIRCUIT_FAILURES", 5, 1, 1000),
    webhookCircuitSeconds: seconds("SF_WEBHOOK_CIRCUIT_SECONDS", 60, 0.1, 86_400),
    webhooksPerUserMax: int("SF_WEBHOOKS_PER_USER_MAX", 25, 1, 10_000),
    storage: storage === "s3" ? "s3" : "local",
    s3,
    accelRedirect,
    uploadExpiryHours: int("SF_UPLOAD_EXPIRY_HOURS", 24, 1, 8760),
    orphanGraceHours: 0,
    secretKey,
    mailMaxAttempts: int("SF_MAIL_MAX_ATTEMPTS", 20, 1, 1000),
    mailGiveUpHours: int("SF_MAIL_GIVE_UP_HOURS", 48, 1, 8760),
    mailRetryBaseSeconds: seconds("SF_MAIL_RETRY_BASE_SECONDS", 30, 0.01, 86_400),
    mailRetryMaxSeconds: seconds("SF_MAIL_RETRY_MAX_SECONDS", 3600, 0.01, 7 * 86_400),
    mailPollMs: int("SF_MAIL_POLL_MS", 5000, 10, 600_000),
    oidcAllowInsecureIssuers: bool("SF_OIDC_ALLOW_INSECURE_ISSUERS", false),
    passwordResetMinutes: int("SF_PASSWORD_RESET_MINUTES", 30, 5, 1440),
    passwordResetMaxPerAddress: int("SF_PASSWORD_RESET_MAX_PER_ADDRESS", 3, 1, 1000),
    passwordResetMaxPerIp: int("SF_PASSWORD_RESET_MAX_PER_IP", 20, 1, 1_000_000),
    passwordResetWindowSeconds: int("SF_PASSWORD_RESET_WINDOW_SECONDS", 3600, 60, 86_400),
    ...readMetricsConfig({ str, int }, { port, bind }, problems),
    ...readSsoConfig({ str, bool }, publicUrl, problems),
  };

  // On S3 a blob written by a multipart upload may be dated when that upload began: a resumable
  // upload's, up to SF_UPLOAD_EXPIRY_HOURS before its commit. The grace must be longer, or the
  // orphan sweep could take a blob whose commit is on its way (unset: a day longer).
  const graceFloor = config.uploadExpiryHours + 1;
  config.orphanGraceHours = int("SF_ORPHAN_GRACE_HOURS", config.uploadExpiryHours + 24, 1, 17_520);
  if (config.orphanGraceHours < graceFloor) {
    problems.push(`SF_ORPHAN_GRACE_HOURS must be at least SF_UPLOAD_EXPIRY_HOURS + 1 (${graceFloor}; got ${config.orphanGraceHours}): a blob may be dated when its upload began`);
  }

  // lib-storage holds whole parts in memory, and S3 takes at most 10,000 of them: 64 MiB parts
  // (src/storage/s3.ts) allow files up to 640 GiB.
  if (config.storage === "s3" && config.maxFileBytes > S3_MAX_FILE_BYTES) {
    problems.push(`SF_MAX_FILE_BYTES can be at most ${S3_MAX_FILE_BYTES} (640 GiB) with SF_STORAGE=s3 (got ${config.maxFileBytes})`);
  }

  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  }
  return Object.freeze(config);
}

/** Hides the password part of a URL before it goes into a message or a log (util/redact-url.ts). */
export { redactUrl };
