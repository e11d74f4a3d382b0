import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/**
 * What a killed `sf send` leaves to resume from: the draft it was filling and the URLs of its
 * resumable uploads, in `$XDG_STATE_HOME/speedyfiles/send-<key>.json` (default
 * `~/.local/state/…`), mode 0600. The key is a hash of the server, the paths given and every
 * file's name, size and modification time: the same command on the same files finds it; a
 * changed file starts afresh.
 */
export interface SendState {
  version: 1;
  server: string;
  packageId?: string;
  uploads: Record<string, string>;
}

export function stateDir(env: Record<string, string | undefined>): string {
  const xdg = env.XDG_STATE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME || os.homedir(), ".local", "state");
  return path.join(base, "speedyfiles");
}

export async function sendStateFile(
  env: Record<string, string | undefined>,
  server: string,
  paths: string[],
  files: { path: string; name: string; size: number }[],
): Promise<string> {
  const stamps: [string, number, number][] = [];
  for (const f of files) {
    const st = await fs.stat(f.path);
    stamps.push([f.name, f.size, Math.floor(st.mtimeMs)]);
  }
  const key = crypto
    .createHash("sha256")
    .update(JSON.stringify({ server, paths: paths.map((p) => path.resolve(p)), files: stamps }))
    .digest("hex")
    .slice(0, 32);
  return path.join(stateDir(env), `send-${key}.json`);
}

export async function readSendState(file: string): Promise<SendState | undefined> {
  try {
    const s = JSON.parse(await fs.readFile(file, "utf8")) as SendState;
    return s.version === 1 && typeof s.uploads === "object" ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Written whole and renamed into place: a kill mid-write never leaves half a file. */
export async function writeSendState(file: string, state: SendState): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(state), { mode: 0o600 });
  await fs.rename(tmp, file);
}

export async function removeSendState(file: string): Promise<void> {
  await fs.rm(file, { force: true });
}
