// Helpers for tests that run the built `sf` as a real process: exit codes, signals, and a
// pseudo-terminal (util-linux `script`) for what a person sees and types.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** Built by test/global-setup.ts before any test file runs. */
export const BIN = path.join(CLI, "dist", "bin.js");

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment of this process without SF_*, CI, colour or config overrides, and HOME set. */
export function baseEnv(home: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith("SF_") || ["XDG_CONFIG_HOME", "CI", "NO_COLOR", "FORCE_COLOR"].includes(k)) continue;
    // The tests' own CI job must not turn into sf's: no OIDC identity, no idempotency keys from it.
    if (/^(GITHUB_|GITLAB_|CI_|ACTIONS_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, HOME: home };
}

/** Runs the built `sf` in its own process and waits for it. */
export function runSf(args: string[], opts: { env: Record<string, string>; input?: string | Buffer }): Promise<Run> {
  const p = startSf(args, opts.env);
  p.child.stdin.end(opts.input);
  return p.done;
}

export interface Started {
  child: ChildProcessWithoutNullStreams;
  out: { stdout: string; stderr: string };
  done: Promise<Run>;
  /** Resolves when stderr matches `re` (rejects after `ms`). */
  waitForStderr(re: RegExp, ms?: number): Promise<void>;
}

/** Starts the built `sf` (pipes on all three streams) and hands back the running process. */
export function startSf(args: string[], env: Record<string, string>): Started {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (c: Buffer) => (out.stdout += c));
  child.stderr.on("data", (c: Buffer) => (out.stderr += c));
  child.stdin.on("error", () => undefined); // the child may leave while we still hold its stdin
  const done = new Promise<Run>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, ...out }));
  });
  return {
    child,
    out,
    done,
    waitForStderr: (re, ms = 20_000) =>
      waitUntil(
        () => re.test(out.stderr),
        ms,
        () => `stderr never matched ${re}; got:\n${out.stderr}`,
      ),
  };
}

export async function waitUntil(check: () => boolean | Promise<boolean>, ms: number, what: () => string): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(what());
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A command in a pseudo-terminal (`script`): what it writes to the terminal comes back in
 * `screenText` (echo included, exactly as a person would see it), and `type` is the keyboard.
 * Answers are typed only once their prompt is on screen: typed earlier, the terminal's own
 * (cooked-mode) echo would show them before the program could hide them.
 */
export class Pty {
  readonly child: ChildProcessWithoutNullStreams;
  raw = "";
  readonly done: Promise<number | null>;

  constructor(command: string, env: Record<string, string>, opts: { cols?: number } = {}) {
    const cmd = `stty cols ${opts.cols ?? 100} rows 40; exec ${command}`;
    this.child = spawn("script", ["-qfec", cmd, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout.on("data", (c: Buffer) => (this.raw += c.toString("utf8")));
    this.child.stdin.on("error", () => undefined);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 60_000);
    this.done = new Promise((resolve, reject) => {
      this.child.on("error", reject);
      this.child.on("close", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  /** The output so far with colour and cursor codes removed. */
  get text(): string {
    return stripAnsi(this.raw);
  }

  /** Waits until the output (after `from` characters of raw output) matches `re`. */
  async expect(re: RegExp, ms = 20_000, from = 0): Promise<void> {
    await waitUntil(
      () => re.test(stripAnsi(this.raw.slice(from))),
      ms,
      () => `terminal never showed ${re}; it shows:\n${this.text}`,
    );
  }

  type(s: string): void {
    this.child.stdin.write(s);
  }
}

export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\x1b\][^\x07]*\x07/g, "");
}

/**
 * Replays what a terminal would show from a `script` log: enough of VT100 for ora (cursor up,
 * column, erase line). What is left on the screen at the end is what the person sees.
 */
export function screen(log: string): string[] {
  const rows: string[][] = [[]];
  let r = 0;
  let c = 0;
  for (let i = 0; i < log.length; i++) {
    const ch = log[i]!;
    if (ch === "\x1b" && log[i + 1] === "[") {
      const m = /^\x1b\[(\??)([0-9;]*)([A-Za-z])/.exec(log.slice(i));
      if (!m) continue;
      i += m[0].length - 1;
      const n = Number(m[2] || "1");
      if (m[1]) continue; // private modes: cursor visibility, synchronized output
      if (m[3] === "A") r = Math.max(0, r - n);
      else if (m[3] === "G") c = n - 1;
      else if (m[3] === "K") rows[r] = (rows[r] ?? []).slice(0, m[2] === "2" ? 0 : c);
      continue;
    }
    if (ch === "\r") c = 0;
    else if (ch === "\n") {
      r++;
      rows[r] ??= [];
    } else {
      const row = (rows[r] ??= []);
      while (row.length < c) row.push(" ");
      row[c++] = ch;
    }
  }
  return rows.map((x) => x.join("").trimEnd()).filter((x) => x.length > 0);
}
