import type { Readable, Writable } from "node:stream";

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

/** Colour only on a terminal, never with NO_COLOR (https://no-color.org) or TERM=dumb. */
export function useColor(io: Io, stream: OutStream = io.stderr): boolean {
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

export function printJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${UNITS[i]}`;
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

/** `2025-01-02 13:04` in local time; `-` for null. */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "-";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Cuts a string to `width` columns, with `…` when cut. */
export function truncate(s: string, width: number): string {
  if (width <= 0) return "";
  return s.length <= width ? s : width === 1 ? "…" : `${s.slice(0, width - 1)}…`;
}

/** Strips ANSI escapes and control characters from text that came from a server or a file name. */
export function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/[\x00-\x1f\x7f]/g, "?");
}

/**
 * A table on a terminal (aligned columns, a header), tab-separated lines without a header when
 * piped — what `gh` does, so `sf packages list | cut -f1` works.
 */
export function printTable(io: Io, headers: string[], rows: string[][]): void {
  const cells = rows.map((r) => r.map((c) => clean(c)));
  if (!isTty(io.stdout)) {
    for (const r of cells) out(io, r.join("\t"));
    return;
  }
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const p = paint(useColor(io, io.stdout));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  out(io, p.bold(line(headers)));
  for (const r of cells) out(io, line(r));
}
