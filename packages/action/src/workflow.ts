import crypto from "node:crypto";
import fs from "node:fs";

/**
 * The runner's side of an action, without @actions/core: workflow commands on stdout and the
 * `GITHUB_OUTPUT` file. Both are documented by GitHub ("Workflow commands for GitHub Actions").
 */
export interface Runner {
  /** Appends a line to the job log (stdout, where the runner reads workflow commands). */
  log(line: string): void;
  /** The `GITHUB_OUTPUT` file, when the runner gave one. */
  outputFile: string | undefined;
}

/** Escapes a command's data as the runner unescapes it (so a newline cannot start a new command). */
export function escapeData(s: string): string {
  return s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

/** `::add-mask::` — the runner replaces the value with `***` in every later log line. */
export function addMask(r: Runner, value: string): void {
  if (value) r.log(`::add-mask::${escapeData(value)}`);
}

export function error(r: Runner, message: string): void {
  r.log(`::error::${escapeData(message)}`);
}

export function warning(r: Runner, message: string): void {
  r.log(`::warning::${escapeData(message)}`);
}

/**
 * Appends `name<<DELIM\nvalue\nDELIM` to `GITHUB_OUTPUT`, with a random delimiter that the value
 * cannot contain (a value that ended the block early could set other outputs).
 */
export function setOutput(r: Runner, name: string, value: string): void {
  if (!r.outputFile) return;
  const delim = `ghadelimiter_${crypto.randomUUID()}`;
  if (value.includes(delim) || name.includes(delim)) throw new Error(`output ${name} contains its delimiter`);
  fs.appendFileSync(r.outputFile, `${name}<<${delim}\n${value}\n${delim}\n`, "utf8");
}
