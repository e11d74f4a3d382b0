#!/usr/bin/env node
import { ConfigError, loadConfig } from "./config.js";
import { createLogger, DatabaseUnavailable, openMigratedDatabase, startServer } from "./server.js";
import { createUser, ensureFirstAdmin } from "./services/users.js";
import { closeDatabase } from "./db/knex.js";
import { mailDestination } from "./mail/mailer.js";
import { lockStorageMigration, MigrationInterrupted, migrateToS3 } from "./storage/migrate.js";
import { BackupRefused, runBackup } from "./backup/backup.js";
import { RestoreRefused, runRestore } from "./backup/restore.js";
import { runCheck } from "./backup/check.js";
import { HoldBusy } from "./storage/deletion-hold.js";
import { PG_RECIPE, ToolMissing } from "./backup/pg-tools.js";
import { AnotherInstanceRunning } from "./db/instance-lock.js";

const USAGE = `usage: speedyfiles-server [command]

commands:
  serve                     start the server (the default)
  migrate                   run database migrations and exit
  create-admin --email E    create an admin; the password is read from stdin
  storage migrate --to s3   copy the files' bytes from SF_DATA_DIR to the SF_S3_* bucket
                            (resumable, each SHA-256 verified; switches nothing by itself)
  backup <dir>              write a consistent backup into the new folder <dir> while the
                            server runs: the database (SQLite online backup, or pg_dump),
                            the blobs on local disk, and manifest.json (every blob's SHA-256)
  restore <dir> [--force]   bring a backup back into an empty SF_DATA_DIR (PostgreSQL: into
                            the empty database SF_DATABASE_URL names), each SHA-256 checked;
                            --force moves what the data folder holds aside first
  check [--sha256]          rows and stored blobs agree: every file's blob is there with its
                            size (--sha256: and its SHA-256, reading every blob); lists blobs
                            no row refers to
  help                      this text

Configuration comes from SF_* environment variables; see docs/configuration.md.

exit codes:
  0  done (serve: stopped by SIGTERM or SIGINT)
  1  could not start or run: e.g. the database cannot be reached or opened;
     backup incomplete, restore refused, check found problems
  2  invalid configuration or usage`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

async function serve(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config);
  // (`as`: assigned in the callback below, which TypeScript's narrowing does not see)
  let first = null as Awaited<ReturnType<typeof ensureFirstAdmin>>;
  // The first admin exists before the port opens: a script that waits for /health and then logs
  // in as SF_ADMIN_EMAIL must not find the account missing.
  const running = await startServer(config, {
    logger,
    beforeListen: async (services) => {
      first = await ensureFirstAdmin(services);
    },
  });
  logger.info({ url: running.url, publicUrl: config.publicUrl, dataDir: config.dataDir }, "SpeedyFiles is listening");

  const base = config.publicUrl;
  const lines = [`SpeedyFiles ${running.url}  (public URL ${base})`, `  Sign in:  ${base}/login`, `  API docs: ${base}/api/v1/docs`, `  Mail:     ${mailDestination(config)}`];
  if (config.sso) {
    // What the admin registers at the provider, said where they look first.
    lines.push(`  Single sign-on: ${config.sso.issuer}, redirect URI ${config.sso.redirectUri}${config.passwordLogin ? "" : " (password sign-in is off)"}`);
  }
  // How to log in from the command line (sf asks for the password, hidden) and with curl.
  const passwordHowTo = (email: string) => [
    "",
    "  Log in with the sf command line (it asks for the password):",
    `    sf login --url ${base} --email ${email}`,
    "  Or get an API token with curl:",
    `    curl -s -X POST ${base}/api/v1/auth/token -H 'Content-Type: application/json' \\`,
    `      -d '{"email":"${email}","password":"<password>","name":"my laptop"}'`,
  ];
  const tokenHowTo = (email: string) =>
    config.passwordLogin ? passwordHowTo(email) : ["", `  Password sign-in is off: sign in through single sign-on as ${email}, then create a token under Account → API tokens.`];
  if (first?.generatedPassword) {
    lines.push(
      "",
      "  First start: created the admin account (this password is shown only once):",
      `    email:    ${first.email}`,
      `    password: ${first.generatedPassword}`,
      ...tokenHowTo(first.email),
    );
  } else if (first) {
    lines.push("", `  Created the admin account ${first.email} from SF_ADMIN_EMAIL / SF_ADMIN_PASSWORD.`, ...tokenHowTo(first.email));
  }
  process.stderr.write(`${lines.join("\n")}\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    running.close(10_000).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "error during shutdown");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // One bad request must never take the server down: log and keep serving.
  process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled rejection"));
}

async function migrateOnly(): Promise<void> {
  const config = loadConfig();
  const db = await openMigratedDatabase(config.databaseUrl);
  try {
    process.stderr.write("migrations are up to date\n");
  } finally {
    await closeDatabase(db);
  }
}

async function createAdmin(args: string[]): Promise<void> {
  const i = args.indexOf("--email");
  const email = i >= 0 ? args[i + 1] : undefined;
  if (!email) throw new UsageError("create-admin needs --email E (the password is read from stdin)");
  const password = await readStdin();
  if (password.length < 8) throw new UsageError("the password (from stdin) must be at least 8 characters");
  const config = loadConfig();
  const db = await openMigratedDatabase(config.databaseUrl);
  try {
    const user = await createUser({ db, clock: () => new Date() }, { email, name: "Administrator", password, role: "admin" });
    process.stdout.write(`created admin ${user.email} (${user.id})\n`);
  } finally {
    await closeDatabase(db);
  }
}

/**
 * `storage migrate --to s3`: copies, verifies, prints a line per file and a summary. Exit 0 when
 * every file is in the bucket (or was purged on purpose), 1 when some could not be copied.
 */
async function storageCommand(args: string[]): Promise<void> {
  const [sub, flag, target] = args;
  if (sub !== "migrate" || flag !== "--to" || target !== "s3") throw new UsageError("usage: speedyfiles-server storage migrate --to s3");
  const config = loadConfig();
  if (!config.s3) throw new ConfigError("invalid configuration: storage migrate --to s3 needs SF_S3_BUCKET (and the other SF_S3_* settings of the bucket)");
  const db = await openMigratedDatabase(config.databaseUrl);
  let failed = 0;
  // Ctrl-C (or SIGTERM) aborts the copy in flight, then says how far it got.
  const stop = new AbortController();
  let exitCode = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    exitCode = sig === "SIGINT" ? 130 : 143;
    stop.abort();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let release: (() => Promise<void>) | undefined;
  try {
    release = await lockStorageMigration(db, config.databaseUrl);
    const t0 = Date.now();
    const sum = await migrateToS3(db, config, (line) => process.stderr.write(`${line}\n`), stop.signal);
    const secs = (Date.now() - t0) / 1000;
    failed = sum.failed.length;
    process.stdout.write(
      [
        `storage migrate: ${sum.total} files: ${sum.copied} copied (${sum.copiedBytes} bytes in ${secs.toFixed(1)} s), ` +
          `${sum.skipped} already in the bucket, ${sum.purged} of purged packages (nothing to copy), ${failed} failed`,
        ...sum.failed.map((f) => `  failed: file ${f.fileId}: ${f.reason}`),
        failed === 0
          ? `Nothing was switched. To serve from the bucket, restart every server with SF_STORAGE=s3 and the same SF_S3_* settings; the local copies stay in ${config.dataDir}/blobs until you remove them.`
          : "Nothing was switched. Fix the failed files (or accept their loss) and run it again: files already copied are skipped.",
      ].join("\n") + "\n",
    );
  } catch (err) {
    if (err instanceof MigrationInterrupted) {
      process.stdout.write(`${err.message}\n`);
      await release?.().catch(() => undefined);
      await closeDatabase(db).catch(() => undefined);
      process.exit(exitCode || 130);
    }
    throw err;
  } finally {
    await release?.();
    await closeDatabase(db);
  }
  if (failed > 0) process.exitCode = 1;
}

/** The lines of a command: the summary to stdout, the way there to stderr. */
const toStdout = (line: string) => process.stdout.write(`${line}\n`);
const toStderr = (line: string) => process.stderr.write(`${line}\n`);

/** Flags of a command: `known` allowed, the rest positional; anything else starting with "-" is a usage error. */
function parseArgs(command: string, args: string[], known: string[]): { flags: Set<string>; positional: string[] } {
  const flags = new Set<string>();
  const positional: string[] = [];
  for (const a of args) {
    if (known.includes(a)) flags.add(a);
    else if (a.startsWith("-")) throw new UsageError(`${command}: unknown option ${a}`);
    else positional.push(a);
  }
  return { flags, positional };
}

/** `backup <dir>`: exit 0 when every blob the snapshot refers to is in the backup, 1 otherwise. */
async function backupCommand(args: string[]): Promise<void> {
  const { positional } = parseArgs("backup", args, []);
  if (positional.length !== 1) throw new UsageError("usage: speedyfiles-server backup <dir>   (a new or empty folder)");
  const config = loadConfig();
  const report = await runBackup(config, positional[0]!, toStdout, toStderr);
  if (!report.complete) process.exitCode = 1;
}

async function restoreCommand(args: string[]): Promise<void> {
  const { flags, positional } = parseArgs("restore", args, ["--force"]);
  if (positional.length !== 1) throw new UsageError("usage: speedyfiles-server restore <dir> [--force]");
  const config = loadConfig();
  await runRestore(config, positional[0]!, { force: flags.has("--force") }, toStdout, toStderr);
}

async function checkCommand(args: string[]): Promise<void> {
  const { flags, positional } = parseArgs("check", args, ["--sha256"]);
  if (positional.length > 0) throw new UsageError("usage: speedyfiles-server check [--sha256]");
  const config = loadConfig();
  if (!(await runCheck(config, { sha256: flags.has("--sha256") }, toStdout, toStderr))) process.exitCode = 1;
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const [command = "serve", ...rest] = argv;
  switch (command) {
    case "serve":
      return serve();
    case "migrate":
      return migrateOnly();
    case "create-admin":
      return createAdmin(rest);
    case "storage":
      return storageCommand(rest);
    case "backup":
      return backupCommand(rest);
    case "restore":
      return restoreCommand(rest);
    case "check":
      return checkCommand(rest);
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof UsageError) {
    process.stderr.write(`speedyfiles-server: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof DatabaseUnavailable) {
    // One line naming the database (password hidden) and the reason; never a stack trace.
    process.stderr.write(`speedyfiles-server: ${err.message}\n`);
    process.exit(1);
  }
  if (err instanceof ToolMissing) {
    process.stderr.write(`speedyfiles-server: ${err.message}. By hand, with PostgreSQL's tools:\n${PG_RECIPE}\n`);
    process.exit(1);
  }
  if (err instanceof BackupRefused || err instanceof RestoreRefused || err instanceof HoldBusy || err instanceof AnotherInstanceRunning) {
    process.stderr.write(`speedyfiles-server: ${err.message}\n`);
    process.exit(1);
  }
  const e = err as { message?: string; status?: number };
  process.stderr.write(`speedyfiles-server: ${e.message ?? String(err)}\n`);
  process.exit(1);
});
