import path from "node:path";
import { DEFAULT_RETRY_SCHEDULE } from "./webhooks/schedule.js";

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
  retentionDays: number;
  webhookAllowPrivate: boolean;
  /** Seconds before each retry of a failed delivery; after the last, the delivery has failed. */
  webhookRetrySchedule: number[];
  webhookTimeoutSeconds: number;
  webhookDisableAfterHours: number;
  webhookPollMs: number;
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
      publicUrl = publicUrl.replace(/\/+$/, "");
    } catch {
      problems.push(`SF_PUBLIC_URL must be an http(s) URL (got "${publicUrl}")`);
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
    retentionDays: int("SF_RETENTION_DAYS", 0, 0, 3650),
    webhookAllowPrivate: bool("SF_WEBHOOK_ALLOW_PRIVATE", false),
    webhookRetrySchedule,
    webhookTimeoutSeconds: int("SF_WEBHOOK_TIMEOUT_SECONDS", 10, 1, 60),
    webhookDisableAfterHours: int("SF_WEBHOOK_DISABLE_AFTER_HOURS", 72, 1, 8760),
    webhookPollMs: int("SF_WEBHOOK_POLL_MS", 500, 10, 60_000),
  };

  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  }
  return Object.freeze(config);
}

/** Hides the password part of a URL before it goes into a message or a log. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):([^@/]*)@/, "//$1:***@");
}
