import fs from "node:fs";
import { InvalidArgumentError, type Command } from "commander";
import type { AuditEvent, AuditEventFilters, AuditExportFormat } from "@speedyfiles/sdk";
import { AbortError } from "@speedyfiles/sdk";
import { InterruptedError, UsageError } from "../exit-codes.js";
import { check } from "../flags.js";
import { clean, info, isTty, out, type Io } from "../output.js";
import type { Context } from "../run.js";

type Format = "table" | "json" | AuditExportFormat;
const FORMATS: Format[] = ["table", "json", "ndjson", "csv"];

const HELP = `
Every recorded event, oldest first: packages created, finalized (recipients, files), downloaded,
uploaded to, revoked, expired and deleted; sign-ins and their failures; tokens; admin actions.

--since and --until take a time ago (30m, 12h, 7d, 2w), a date (2026-12-01, midnight UTC) or a
date and time (2026-12-01T09:00:00Z). --type takes types or families, comma-separated
(package.*,user.disabled).

Formats: table (the default on a terminal), ndjson (the default when piped or written to a file;
.csv files get csv), json (one array), csv (RFC 4180, with cells a spreadsheet would run as
formulas defused by a leading '). ndjson and csv stream: any number of events, in flat memory.

Every event carries its cursor. An export cut short (Ctrl-C, a dropped connection, --limit)
continues with --cursor <the last cursor received>, or with --resume, which reads it from the
--output file and appends after it.

Examples:
  sf admin events --since 7d
  sf admin events --since 7d --format csv > audit.csv
  sf admin events --since 2026-12-01 --type package.* --output audit.ndjson
  sf admin events --user alice@example.com --since 24h --format json
  sf admin events --output audit.ndjson --resume`;

interface EventsFlags {
  since?: string;
  until?: string;
  user?: string;
  package?: string;
  type?: string;
  format?: Format;
  output?: string;
  cursor?: string;
  resume?: boolean;
  limit?: number;
}

/**
 * `--since 7d`, `12h`, `30m`, `2w`; a date `2026-12-01` (UTC midnight); or an RFC 3339 date and
 * time. Returns the instant as ISO 8601, relative times from `now`.
 */
export function parseWhen(v: string, now: Date = new Date()): string {
  const text = v.trim();
  const rel = /^(\d+)\s*(m|min|h|d|w)$/i.exec(text);
  if (rel) {
    const n = Number(rel[1]);
    const unit = rel[2]!.toLowerCase();
    const ms = n * (unit === "w" ? 604_800_000 : unit === "d" ? 86_400_000 : unit === "h" ? 3_600_000 : 60_000);
    return new Date(now.getTime() - ms).toISOString();
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const t = Date.parse(`${text}T00:00:00Z`);
    if (!Number.isNaN(t)) return new Date(t).toISOString();
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(text)) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) return new Date(t).toISOString();
  }
  throw new InvalidArgumentError("expected a time ago (30m, 12h, 7d, 2w), a date (2026-12-01) or a date and time (2026-12-01T09:00:00Z)");
}

function format(v: string): Format {
  if (!(FORMATS as string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${FORMATS.join(", ")}`);
  return v as Format;
}

function positive(v: string): number {
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new InvalidArgumentError("expected a whole number of events, at least 1");
  return Number(v);
}

/** The format the flags ask for, or the default for where the output goes. */
function chosenFormat(io: Io, opts: EventsFlags): Format {
  if (opts.format) return opts.format;
  if (opts.output) return /\.csv$/i.test(opts.output) ? "csv" : "ndjson";
  return isTty(io.stdout) ? "table" : "ndjson";
}

/** What an event is about, in a few words, for the table. */
function about(e: AuditEvent): string {
  const d = e.data as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of ["title", "email", "recipient_email", "file_name", "method"]) {
    const v = d[key];
    if (typeof v === "string" && v !== "") parts.push(key === "title" ? `"${v}"` : v);
  }
  if (Array.isArray(d.recipients)) parts.push(`to ${d.recipients.join(", ")}`);
  if (typeof d.file_count === "number") parts.push(`${d.file_count} file${d.file_count === 1 ? "" : "s"}`);
  return parts.join(" ") || e.package_id || e.user_id || "";
}

/**
 * The last complete line's cursor of an export file, cutting off a line the interruption left
 * half-written (so appending continues right after the last event the file holds whole).
 */
function resumePoint(file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, "r+");
  } catch {
    throw new UsageError(`--resume: cannot read ${file} (start without --resume)`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const span = Math.min(size, 1024 * 1024);
    const tail = Buffer.alloc(span);
    fs.readSync(fd, tail, 0, span, size - span);
    const lastNl = tail.lastIndexOf(0x0a);
    if (lastNl < 0) throw new UsageError(`--resume: ${file} holds no complete event (start without --resume)`);
    if (lastNl + 1 < span) fs.ftruncateSync(fd, size - span + lastNl + 1);
    const lines = tail.subarray(0, lastNl).toString("utf8").split("\n");
    for (let i = lines.length - 1; i >= 0; i--) {
      const m = /^\{"cursor":"(\d+)"/.exec(lines[i]!) ?? /^(\d+),/.exec(lines[i]!);
      if (m) return m[1]!;
    }
    throw new UsageError(`--resume: ${file} holds no event with a cursor (start without --resume)`);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes to stdout, waiting for it to drain when it is a real stream that asks to. */
async function writeOut(io: Io, chunk: string | Uint8Array): Promise<void> {
  const stream = io.stdout as typeof io.stdout & { once?: (e: string, f: () => void) => void };
  if (!stream.write(chunk) && typeof stream.once === "function") await new Promise<void>((r) => stream.once!("drain", r));
}

/** `sf admin events`: the audit trail (admins only). */
export function registerAdminEvents(program: Command, ctx: Context): void {
  const admin = program.commands.find((c) => c.name() === "admin") ?? program.command("admin").description("administer the server (admins only)");
  admin
    .command("events")
    .description("export the audit trail: who did what, when (streams; resumable)")
    .option("--since <when>", "events at or after: 7d, 12h, 2026-12-01, 2026-12-01T09:00:00Z", (v) => parseWhen(v))
    .option("--until <when>", "events before (as --since)", (v) => parseWhen(v))
    .option("--user <email|id>", "events by or about this user")
    .option("--package <id>", "events about this package")
    .option("--type <types>", "types or families, comma-separated: package.*,user.disabled")
    .option("--format <format>", `${FORMATS.join(", ")} (default: table on a terminal, else ndjson)`, format)
    .option("--output <file>", "write to this file instead of stdout (mode 0600)")
    .option("--cursor <cursor>", "start after this event (the cursor of the last one received)")
    .option("--resume", "continue the --output file after its last complete event")
    .option("--limit <n>", "at most this many events", positive)
    .addHelpText("after", HELP)
    .action(async (opts: EventsFlags) => {
      const fmt = chosenFormat(ctx.io, opts);
      if (opts.resume && !opts.output) throw new UsageError("--resume needs --output (the file to continue)");
      if (opts.resume && opts.cursor) throw new UsageError("give --resume or --cursor, not both");
      if (opts.resume && fmt !== "ndjson" && fmt !== "csv") throw new UsageError("--resume continues ndjson or csv files");
      if (opts.output && fmt === "table") throw new UsageError("--output writes ndjson, csv or json (a table is for the terminal)");
      if (opts.package !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(opts.package.trim())) {
        throw new UsageError(`--package must be a package id (got "${opts.package}")`);
      }
      if (opts.user?.includes("@")) check.email("--user", opts.user);
      const cursor = opts.resume ? resumePoint(opts.output!) : opts.cursor;
      const filters: AuditEventFilters = {
        ...(opts.since ? { since: opts.since } : {}),
        ...(opts.until ? { until: opts.until } : {}),
        ...(opts.user ? { user: opts.user.trim() } : {}),
        ...(opts.package ? { package: opts.package.trim().toLowerCase() } : {}),
        ...(opts.type
          ? {
              type: opts.type
                .split(",")
                .map((s) => s.trim())
                .filter(Boolean),
            }
          : {}),
      };
      const range = { ...(cursor ? { cursor } : {}), ...(opts.limit ? { limit: opts.limit } : {}) };
      const sf = await ctx.client();
      const signal = ctx.io.signal;
      try {
        if (fmt === "ndjson" || fmt === "csv") {
          if (opts.output) {
            const r = await sf.admin.events.download(opts.output, { ...filters, ...range }, { format: fmt, append: cursor !== undefined, ...(signal ? { signal } : {}) });
            info(ctx.io, `Wrote ${r.bytes} bytes to ${opts.output}.`);
            if (r.nextCursor) info(ctx.io, `More events: continue with --cursor ${r.nextCursor} (or --resume).`);
            return;
          }
          const exp = await sf.admin.events.stream({ ...filters, ...range }, { format: fmt, ...(signal ? { signal } : {}) });
          for await (const chunk of exp.body as unknown as AsyncIterable<Uint8Array>) await writeOut(ctx.io, chunk);
          if (exp.nextCursor) info(ctx.io, `More events: continue with --cursor ${exp.nextCursor}`);
          return;
        }
        await paged(ctx, fmt, opts, filters, range);
      } catch (err) {
        if (err instanceof AbortError || signal?.aborted) {
          throw new InterruptedError(
            opts.output ? `interrupted; continue with: sf admin events … --output ${opts.output} --resume` : "interrupted; continue with --cursor <the last cursor received>",
          );
        }
        throw err;
      }
    });
}

/** The table and the JSON array: page by page (1,000 events a request), printed as they come. */
async function paged(ctx: Context, fmt: "table" | "json", opts: EventsFlags, filters: AuditEventFilters, range: { cursor?: string; limit?: number }): Promise<void> {
  const sf = await ctx.client();
  const tty = isTty(ctx.io.stdout);
  const file = opts.output ? fs.createWriteStream(opts.output, { mode: 0o600 }) : undefined;
  const write = async (s: string) => {
    if (!file) return writeOut(ctx.io, s);
    if (!file.write(s)) await new Promise<void>((r) => file.once("drain", r));
  };
  let n = 0;
  let last: string | undefined;
  const limit = range.limit ?? Infinity;
  if (fmt === "json") await write("[");
  else if (tty) out(ctx.io, `${"TIME".padEnd(24)}  ${"TYPE".padEnd(22)}  ${"ACTOR".padEnd(28)}  ABOUT`);
  for await (const e of sf.admin.events.iterate(
    { ...filters, ...(range.cursor ? { cursor: range.cursor } : {}), pageSize: Math.min(1000, limit) },
    ctx.io.signal ? { signal: ctx.io.signal } : {},
  )) {
    if (n >= limit) {
      info(ctx.io, `More events: continue with --cursor ${last}`);
      break;
    }
    if (fmt === "json") await write(`${n === 0 ? "\n" : ",\n"}${JSON.stringify(e)}`);
    else {
      const cells = [e.created_at, e.type, e.actor_email ?? (e.actor_user_id ? e.actor_user_id : "-"), about(e)].map(clean);
      await write(`${tty ? `${cells[0]!.padEnd(24)}  ${cells[1]!.padEnd(22)}  ${cells[2]!.padEnd(28)}  ${cells[3]}` : cells.join("\t")}\n`);
    }
    last = e.cursor;
    n++;
  }
  if (fmt === "json") await write(n === 0 ? "]\n" : "\n]\n");
  if (file) await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
  if (tty && fmt === "table" && n === 0) info(ctx.io, "No events match.");
}
