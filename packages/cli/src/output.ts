import type { Readable, Writable } from "node:stream";
import { formatBytes as sdkFormatBytes } from "@speedyfiles/sdk";

/** A stream the CLI writes to; `isTTY`/`columns` as on process.stdout and process.stderr. */
export type OutStream = Pick<Writable, "write"> & { isTTY?: boolean; columns?: number };
/** What the CLI reads from; `isTTY`/`setRawMode` as on process.stdin. */
export type InStream = Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };

/**
 * Everything a command touches outside itself. bin.ts passes the process's; tests pass their own.
 * Data goes to stdout, progress and messages to stderr.
 */
export interface Io {
  stdout: OutStream;
  stderr: OutStream;
  stdin?: InStream | undefined;
  env: Record<string, string | undefined>;
  /** Aborted on Ctrl-C (bin.ts wires SIGINT to it). */
  signal?: AbortSignal | undefined;
  /** Machine name for `sf on <hostname>` tokens (default os.hostname()). */
  hostname?: string | undefined;
}

export const isTty = (s: { isTTY?: boolean } | undefined): boolean => s?.isTTY === true;

/**
 * Colour on a terminal, unless NO_COLOR (https://no-color.org) or TERM=dumb. FORCE_COLOR decides
 * first when set: `0` or `false` never, anything else always, even when piped (CI logs that
 * render ANSI). It never turns on the live display: that needs a terminal.
 */
export function useColor(io: Io, stream: OutStream = io.stderr): boolean {
  const force = io.env.FORCE_COLOR;
  if (force !== undefined) return !["0", "false"].includes(force.trim().toLowerCase());
  return isTty(stream) && !("NO_COLOR" in io.env && io.env.NO_COLOR !== "") && io.env.TERM !== "dumb";
}

export interface Paint {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

export function paint(on: boolean): Paint {
  const w = (open: number, close: number) => (s: string) => (on ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return { bold: w(1, 22), dim: w(2, 22), red: w(31, 39), green: w(32, 39), yellow: w(33, 39), cyan: w(36, 39) };
}

/** Messages for the person (stderr). */
export function info(io: Io, line: string): void {
  io.stderr.write(`${line}\n`);
}

/** Data (stdout). */
export function out(io: Io, line: string): void {
  io.stdout.write(`${line}\n`);
}

/**
 * JSON on stdout, with every character a terminal or a reader may act on written `\uXXXX`:
 * JSON.stringify escapes C0 controls but leaves DEL, C1 controls, bidi controls and U+2028/U+2029
 * raw (they can only be inside strings there, where the escape means the same character).
 */
export function printJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2).replace(JSON_UNSAFE_G, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}\n`);
}

/**
 * The one way sf writes a size: IEC units, `512 B`, `1.5 KiB`, `10.0 GiB` (one decimal below
 * 100), `150 MiB` (none from 100). The SDK's, so that its sentences (a policy's refusal) and
 * sf's lines agree.
 */
export function formatBytes(n: number): string {
  return sdkFormatBytes(n);
}

/** A limit someone set, without a `.0`: `2 GiB`, `1.5 GiB`. */
export function formatLimit(n: number): string {
  return sdkFormatBytes(n, { exact: true });
}

/** `1 file`, `3 files`: a count with its noun (`many` for irregular plurals). */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
}

/**
 * `2025-01-02 13:04 +01:00`: local time with its UTC offset, so a date read in another time zone
 * (or pasted into a ticket) is never off by hours; `-` for null.
 */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "-";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  const off = -d.getTimezoneOffset();
  const zone = `${off < 0 ? "-" : "+"}${p(Math.floor(Math.abs(off) / 60))}:${p(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())} ${zone}`;
}

/** How far away a date is, for people: `in 6 days`, `in 3 h`, `2 min ago`. */
export function formatRelative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "";
  const ms = new Date(iso).getTime() - now;
  if (Number.isNaN(ms)) return "";
  const a = Math.abs(ms);
  const [n, unit] =
    a < 90_000
      ? [Math.round(a / 1000), "s"]
      : a < 90 * 60_000
        ? [Math.round(a / 60_000), "min"]
        : a < 36 * 3_600_000
          ? [Math.round(a / 3_600_000), "h"]
          : [Math.round(a / 86_400_000), "days"];
  const amount = unit === "days" && n === 1 ? "1 day" : `${n} ${unit}`;
  return ms >= 0 ? `in ${amount}` : `${amount} ago`;
}

/** A number of seconds for people: `45 s`, `15 min`, `2 h`. */
export function formatSeconds(s: number): string {
  if (s < 90) return `${s} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** Cuts a string to `width` columns, with `…` when cut. */
export function truncate(s: string, width: number): string {
  if (width <= 0) return "";
  return s.length <= width ? s : width === 1 ? "…" : `${s.slice(0, width - 1)}…`;
}

/**
 * Cuts a string to `width` columns in the middle, `reports/2024…/q4-final.pdf`: the start and the
 * end of a file name (its folder and its extension) say more than either alone.
 */
export function truncateMiddle(s: string, width: number): string {
  if (s.length <= width) return s;
  if (width <= 1) return width === 1 ? "…" : "";
  const tail = Math.floor((width - 1) / 2);
  const head = width - 1 - tail;
  return `${s.slice(0, head)}…${s.slice(s.length - tail)}`;
}

// The server's FORBIDDEN_IN_LINE (packages/server/src/util/forbidden-characters.ts; the SDK keeps
// the same set for file names): C0 and C1 controls, DEL, and the bidi controls that disguise text
// (embeddings and overrides, isolates, marks). Text that reaches the CLI without the server's
// check (a decrypted sealed message) or from an older server may hold any of them. Change both
// together. The line and paragraph separators (U+2028, U+2029) are added: some terminals and log
// viewers break lines at them.
const UNSAFE_ABOVE_C0 = "\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069";
const UNSAFE_G = new RegExp(`[\\u0000-\\u001f${UNSAFE_ABOVE_C0}]`, "g");
/** What printJson escapes: JSON.stringify already writes C0 controls as escapes (and its own newlines stay). */
const JSON_UNSAFE_G = new RegExp(`[${UNSAFE_ABOVE_C0}]`, "g");
/** A CSI sequence, begun by ESC [ or by its one-character C1 form U+009B. */
const CSI_G = /(?:\x1b\[|\u009b)[0-9;?]*[A-Za-z]/g;

/**
 * Text that came from a server, a file name or a sealed message, safe to print: ANSI escape
 * sequences removed, every other control or bidi character shown as `?`.
 */
export function clean(s: string): string {
  return s.replace(CSI_G, "").replace(UNSAFE_G, "?");
}

/** A table column: how it is titled, and how it gives way when the terminal is too narrow. */
export interface Column {
  header: string;
  /** May be cut to fit the terminal (default: never cut). */
  shrink?: "middle" | "end";
  /** Narrowest it is cut to (default 8). */
  min?: number;
  align?: "right";
}

/**
 * A table on a terminal (aligned columns, a header, fitted to the terminal's width by cutting the
 * shrinkable columns, widest first), tab-separated lines without a header when piped — what `gh`
 * does, so `sf packages list | cut -f1` works and scripts always get whole values.
 */
export function printTable(io: Io, columns: (string | Column)[], rows: string[][]): void {
  const cols: Column[] = columns.map((c) => (typeof c === "string" ? { header: c } : c));
  const cells = rows.map((r) => r.map((c) => clean(c)));
  if (!isTty(io.stdout)) {
    for (const r of cells) out(io, r.join("\t"));
    return;
  }
  const widths = cols.map((c, i) => Math.max(c.header.length, ...cells.map((r) => (r[i] ?? "").length)));
  const available = (io.stdout.columns ?? 0) > 0 ? io.stdout.columns! - 1 : Infinity;
  const total = () => widths.reduce((n, w) => n + w, 0) + 2 * (widths.length - 1);
  const floor = (i: number) => Math.max(cols[i]!.min ?? 8, cols[i]!.header.length);
  // Water-filling: narrow the widest column that may give way, down to the next widest, until
  // the row fits (or every such column is at its minimum).
  while (total() > available) {
    const shrinkable = cols.map((_c, i) => i).filter((i) => cols[i]!.shrink && widths[i]! > floor(i));
    if (shrinkable.length === 0) break;
    shrinkable.sort((a, b) => widths[b]! - widths[a]!);
    const top = shrinkable[0]!;
    const next = shrinkable[1] !== undefined ? widths[shrinkable[1]]! : 0;
    const cut = Math.max(1, Math.min(total() - available, widths[top]! - Math.max(next, floor(top))));
    widths[top] = Math.max(floor(top), widths[top]! - cut);
  }
  const fit = (s: string, i: number) => {
    const c = cols[i]!;
    const w = widths[i]!;
    const v = s.length <= w ? s : c.shrink === "middle" ? truncateMiddle(s, w) : truncate(s, w);
    return c.align === "right" ? v.padStart(w) : v.padEnd(w);
  };
  const p = paint(useColor(io, io.stdout));
  const line = (r: string[]) =>
    r
      .map((c, i) => fit(c, i))
      .join("  ")
      .trimEnd();
  out(io, p.bold(line(cols.map((c) => c.header))));
  for (const r of cells) out(io, line(r));
}
