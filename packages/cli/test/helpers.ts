import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { main, type Io } from "../src/run.js";

export interface SfResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A writable that keeps what was written (not a TTY: plain output, no colour). */
export function sink(): PassThrough & { text(): string } {
  const chunks: Buffer[] = [];
  const s = new PassThrough() as PassThrough & { text(): string };
  s.on("data", (c: Buffer) => chunks.push(c));
  s.text = () => Buffer.concat(chunks).toString("utf8");
  return s;
}

/** Runs `sf argv…` in-process, as bin.ts would, and returns its exit code and output. */
export async function sf(
  argv: string[],
  opts: {
    env?: Record<string, string | undefined>;
    stdin?: string | Buffer | Readable;
    signal?: AbortSignal;
    onStderr?: (text: string) => void;
    /** stdout claims to be a terminal this many columns wide (tables are drawn for people). */
    ttyColumns?: number;
  } = {},
): Promise<SfResult> {
  const stdout = sink();
  const stderr = sink();
  if (opts.ttyColumns) Object.assign(stdout, { isTTY: true, columns: opts.ttyColumns });
  if (opts.onStderr) stderr.on("data", () => opts.onStderr!(stderr.text()));
  const stdin = opts.stdin instanceof Readable ? opts.stdin : Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]);
  const io: Io = { stdout, stderr, stdin, env: { ...opts.env }, signal: opts.signal, hostname: "testhost" };
  const code = await main(argv, io);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

export async function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A directory with nested, hidden and binary files; returns its path. */
export async function makeTree(root: string, name = "out"): Promise<string> {
  const dir = path.join(root, name);
  await fs.mkdir(path.join(dir, "sub/deeper"), { recursive: true });
  await fs.writeFile(path.join(dir, "a.txt"), "hello\n");
  await fs.writeFile(path.join(dir, ".hidden"), "dotfile\n");
  await fs.writeFile(path.join(dir, "sub/b.bin"), Buffer.alloc(2_500_000, 7));
  await fs.writeFile(path.join(dir, "sub/deeper/c.json"), JSON.stringify({ ok: true }));
  return dir;
}
