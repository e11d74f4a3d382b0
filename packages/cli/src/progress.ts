import type { Ora } from "ora";
import { clean, formatBytes, formatRate, formatSeconds, info, isTty, paint, plural, truncate, useColor, type Io } from "./output.js";

/** What a transfer reports; the view decides how (or whether) to show it. */
export interface TransferView {
  /**
   * A file started (size undefined when unknown, e.g. stdin); `from`: bytes of it the other side
   * already had (a resumed upload or download), shown but not counted in the speed.
   */
  start(name: string, size: number | undefined, from?: number): void;
  progress(name: string, bytes: number): void;
  done(name: string, size: number): void;
  /** A file that was already there (a resumed send): counts as finished, not as sent now. */
  skip(name: string, size: number): void;
  /** Clears the live display and leaves `summary` (if any) on stderr. */
  finish(summary?: string): void;
  /** Clears the live display after a failure (the error is printed by bin.ts). */
  fail(): void;
  /** A line that stays (e.g. "resumed at 63 %"). */
  note(text: string): void;
}

export type ViewMode = "tty" | "plain" | "none";

/**
 * `tty`: a live frame on a terminal stderr. `plain`: one line per finished file (logs, CI).
 * `none`: `--json` or `--no-progress`.
 */
export function viewMode(io: Io, opts: { json?: boolean; progress?: boolean }): ViewMode {
  if (opts.json || opts.progress === false) return "none";
  // A terminal of unknown width (columns 0, as under `script` without a size) cannot be redrawn
  // in place reliably: plain lines instead.
  return isTty(io.stderr) && (io.stderr.columns ?? 0) > 0 && io.env.TERM !== "dumb" ? "tty" : "plain";
}

export interface ViewOptions {
  /** Heading of the live frame, e.g. `Sending 12 files to cfo@acme.com`. */
  title: string;
  /** Past tense for plain lines: `sent`, `downloaded`. */
  verb: string;
  totalFiles: number;
  /** Sum of the known sizes. */
  totalBytes: number;
  /** For tests: a clock in ms. */
  now?: () => number;
}

export async function createView(io: Io, mode: ViewMode, opts: ViewOptions): Promise<TransferView> {
  // ora (and its dependencies) cost a noticeable part of start-up: loaded only for a terminal.
  if (mode === "tty") return new TtyView(io, opts, (await import("ora")).default);
  if (mode === "plain") return new PlainView(io, opts);
  return { start() {}, progress() {}, done() {}, skip() {}, finish() {}, fail() {}, note() {} };
}

/** One line per finished file on stderr, for logs: `sent 3/12 reports/q1.pdf (27.1 MiB)`. */
class PlainView implements TransferView {
  private finished = 0;
  constructor(
    private readonly io: Io,
    private readonly opts: ViewOptions,
  ) {}
  start(): void {}
  progress(): void {}
  done(name: string, size: number): void {
    this.finished++;
    info(this.io, `${this.opts.verb} ${this.finished}/${this.opts.totalFiles} ${clean(name)} (${formatBytes(size)})`);
  }
  skip(): void {
    // Not a line: it was not sent now (the "resumed at" note says how much was there).
    this.finished++;
  }
  finish(summary?: string): void {
    if (summary) info(this.io, summary);
  }
  fail(): void {}
  note(text: string): void {
    info(this.io, text);
  }
}

const FPS_MS = 100;
const MAX_FILE_LINES = 8;
const RATE_WINDOW_MS = 3000;

/**
 * The live display on a terminal: ora's spinner on a heading, a line per file in flight and a
 * total line with bytes, percent and throughput. Frames are rebuilt at most every 100 ms (ora
 * redraws at the same pace), lines are cut to the terminal width so nothing wraps, and finish()
 * / fail() erase the whole frame.
 */
class TtyView implements TransferView {
  private readonly spinner: Ora;
  private readonly active = new Map<string, { bytes: number; size: number | undefined }>();
  private finishedFiles = 0;
  private finishedBytes = 0;
  /** Bytes that were there before this run (resumed): shown, never counted in speed or ETA. */
  private already = 0;
  private readonly samples: { t: number; bytes: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private dirty = true;
  private readonly now: () => number;
  private readonly p;

  constructor(
    private readonly io: Io,
    private readonly opts: ViewOptions,
    ora: typeof import("ora").default,
  ) {
    this.now = opts.now ?? (() => performance.now());
    const color = useColor(io);
    this.p = paint(color);
    this.spinner = ora({
      stream: io.stderr as NodeJS.WritableStream,
      isEnabled: true,
      discardStdin: false, // stdin may be the data being sent (`sf send -`)
      hideCursor: true,
      color: color ? "cyan" : false,
      spinner: "dots",
      interval: FPS_MS,
      text: clean(opts.title),
    });
    this.spinner.start();
    this.timer = setInterval(() => this.refresh(), FPS_MS);
    this.timer.unref();
  }

  start(name: string, size: number | undefined, from = 0): void {
    this.active.set(name, { bytes: from, size });
    this.already += from;
    this.dirty = true;
  }

  skip(_name: string, size: number): void {
    this.finishedFiles++;
    this.finishedBytes += size;
    this.already += size;
    this.dirty = true;
  }

  progress(name: string, bytes: number): void {
    const f = this.active.get(name);
    if (f) f.bytes = bytes;
    this.dirty = true;
  }

  done(name: string, size: number): void {
    this.active.delete(name);
    this.finishedFiles++;
    this.finishedBytes += size;
    this.dirty = true;
  }

  finish(summary?: string): void {
    this.stopTimer();
    if (summary) this.spinner.stopAndPersist({ symbol: this.p.green("✔"), text: summary });
    else this.spinner.stop();
  }

  fail(): void {
    this.stopTimer();
    this.spinner.stop();
  }

  note(text: string): void {
    this.spinner.clear();
    this.io.stderr.write(`${clean(text)}\n`);
    this.spinner.render();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private bytesSoFar(): number {
    let b = this.finishedBytes;
    for (const f of this.active.values()) b += f.bytes;
    return b;
  }

  /** Throughput over the last few seconds (the average since start until then). */
  private rate(bytes: number): number {
    const t = this.now();
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - this.samples[0]!.t > RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0]!;
    const dt = (t - first.t) / 1000;
    return dt > 0 ? (bytes - first.bytes) / dt : 0;
  }

  private refresh(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.spinner.text = this.frame();
  }

  /** The frame below the spinner's heading; public for tests. */
  frame(): string {
    const width = Math.max(20, (this.io.stderr.columns ?? 80) - 1);
    const { p, opts } = this;
    const lines = [truncate(clean(opts.title), width - 2)];
    const files = [...this.active.entries()];
    const nameWidth = Math.min(40, Math.max(8, ...files.map(([n]) => n.length)));
    for (const [name, f] of files.slice(0, MAX_FILE_LINES)) {
      const pct = f.size ? Math.min(100, Math.floor((f.bytes / f.size) * 100)) : undefined;
      const bar = pct === undefined ? "" : `${bar10(pct)} ${String(pct).padStart(3)}%  `;
      const sizes = f.size !== undefined ? `${formatBytes(f.bytes)} / ${formatBytes(f.size)}` : formatBytes(f.bytes);
      const n = truncate(clean(name), nameWidth).padEnd(nameWidth);
      lines.push(truncate(`  ${n}  ${bar}${sizes}`, width));
    }
    if (files.length > MAX_FILE_LINES) lines.push(p.dim(`  … and ${files.length - MAX_FILE_LINES} more in flight`));
    const bytes = this.bytesSoFar();
    const total = Math.max(opts.totalBytes, bytes);
    const pct = total > 0 ? Math.min(100, Math.floor((bytes / total) * 100)) : 100;
    // Speed and time left from the bytes moved in this run only (a resumed transfer starts high).
    const rate = this.rate(Math.max(0, bytes - this.already));
    const left = total - bytes;
    const eta = rate > 0 && left > 0 ? `  ${formatSeconds(Math.ceil(left / rate))} left` : "";
    const count = `${this.finishedFiles}/${plural(opts.totalFiles, "file")}`;
    const totalLine = `  total  ${count}  ${formatBytes(bytes)} / ${formatBytes(total)}  ${pct}%  ${formatRate(rate)}${eta}`;
    lines.push(p.bold(truncate(totalLine, width)));
    return lines.join("\n");
  }
}

function bar10(pct: number): string {
  const n = Math.round(pct / 10);
  return `${"█".repeat(n)}${"░".repeat(10 - n)}`;
}
