import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/** How often a process marks its temp folder as alive (the folder's mtime). */
export const HEARTBEAT_MS = 30_000;
/**
 * A folder whose owner cannot be checked directly (another machine sharing the data folder, or a
 * system without /proc) counts as abandoned once its heartbeat (mtime) has not changed for this
 * long on this process's clock: twenty missed beats, room for a paused process. The owner's clock
 * does not matter: only whether its mtime moves.
 */
export const ABANDONED_AFTER_MS = 10 * 60_000;
/** Loose files of the old layout (`tmp/<uuid>.part`, from before per-process folders). */
const LEGACY_STALE_MS = 60 * 60_000;
/** `<machine>.<pid>.<start time>.<random>`: who owns the folder, readable without opening anything. */
const FOLDER_NAME = /^([0-9a-f]{16})\.(\d+)\.(\d+)\.([0-9a-f]{8})$/;

/** What makes a pid meaningful: the same kernel since boot, and the same pid namespace. */
function readMachine(): { id: string; checkable: boolean } {
  let boot = "";
  let pidNs = "";
  try {
    boot = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    pidNs = fs.readlinkSync("/proc/self/ns/pid");
  } catch {
    // No /proc (not Linux): pids cannot be checked, heartbeats decide.
  }
  const checkable = boot !== "" && pidNs !== "";
  const id = crypto.createHash("sha256").update(`${os.hostname()}\n${boot}\n${pidNs}`).digest("hex").slice(0, 16);
  return { id, checkable };
}

/** How a /proc/<pid>/stat is read (a test puts a refusal in its place). */
type ReadStat = (pid: number) => string;
const readProcStat: ReadStat = (pid) => fs.readFileSync(`/proc/${pid}/stat`, "utf8");

/**
 * Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot; "gone" if
 * there is no such process; "unknown" if it exists but cannot be read (EACCES or EPERM, or hidden
 * by the `hidepid` mount option: then `kill(pid, 0)` still tells whether it exists).
 */
function startTimeOf(pid: number, read: ReadStat = readProcStat): string | "gone" | "unknown" {
  try {
    const stat = read(pid);
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[22 - 3] ?? "unknown";
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM") return "unknown";
    try {
      process.kill(pid, 0);
      return "unknown";
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "ESRCH" ? "gone" : "unknown";
    }
  }
}

let machine: { id: string; checkable: boolean } | undefined;

/**
 * A folder under `<root>` that only this process writes its temp files into, named after its
 * owner (machine, pid, process start time) so that any other process can tell when the owner is
 * gone, and kept alive by a heartbeat (its mtime, touched every HEARTBEAT_MS). A crash, `kill -9`
 * included, leaves the folder behind with a dead owner, and the next start of any process on the
 * data folder, or the next sweep of a running one, removes it (see removeAbandoned).
 */
export class ProcessTempFolder {
  readonly dir: string;
  private timer: NodeJS.Timeout | undefined;

  private constructor(readonly root: string) {
    machine ??= readMachine();
    const own = machine.checkable ? startTimeOf(process.pid) : "0";
    const start = own === "gone" || own === "unknown" ? "0" : own;
    this.dir = path.join(root, `${machine.id}.${process.pid}.${start}.${crypto.randomBytes(4).toString("hex")}`);
  }

  /** Makes this process's folder under `root` and starts its heartbeat. */
  static async create(root: string): Promise<ProcessTempFolder> {
    const folder = new ProcessTempFolder(root);
    await fsp.mkdir(folder.dir, { recursive: true });
    folder.timer = setInterval(() => void folder.beat(), HEARTBEAT_MS);
    folder.timer.unref();
    return folder;
  }

  /** Marks the folder alive; makes it again if someone removed it. */
  async beat(): Promise<void> {
    const now = new Date();
    await fsp.utimes(this.dir, now, now).catch(async () => {
      await fsp.mkdir(this.dir, { recursive: true }).catch(() => undefined);
    });
  }

  /**
   * Stops the heartbeat and removes the folder with whatever is left in it (a clean stop; synchronous,
   * as the process may end right after).
   */
  close(): void {
    clearInterval(this.timer);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What a sweep may be told, for tests: a shorter window, another way of reading /proc. */
export interface AbandonedOptions {
  /** How long another machine's heartbeat must stay unchanged (ABANDONED_AFTER_MS). */
  abandonedAfterMs?: number;
  readStat?: ReadStat;
}

/**
 * Heartbeats of folders whose owner cannot be checked directly, as this process last saw them:
 * the folder's mtime and when (on this process's clock) it was first seen at that value. Kept in
 * memory only: a restart starts again from first sight.
 */
const heartbeats = new Map<string, { mtimeMs: number; since: number }>();

/**
 * Whether the owner of the folder `path` (named `name`) is gone. On the same machine (same boot
 * and pid namespace), at once and for sure: no process with that pid, or one that started at
 * another time (the pid was reused); a process that exists but whose /proc entry cannot be read
 * counts as alive. Elsewhere, or where /proc is missing, by the heartbeat, measured on this
 * machine's clock only (the owner's may be far off): its mtime has not changed for
 * ABANDONED_AFTER_MS since this process first saw it at that value. First sight never removes.
 */
function ownerGone(p: string, name: string, mtimeMs: number, now: number, opts: AbandonedOptions): boolean {
  const m = FOLDER_NAME.exec(name);
  machine ??= readMachine();
  if (m && machine.checkable && m[1] === machine.id) {
    if (Number(m[2]) === process.pid && m[3] === startTimeOf(process.pid)) return false;
    const start = startTimeOf(Number(m[2]), opts.readStat);
    return start === "gone" || (start !== "unknown" && start !== m[3]);
  }
  const seen = heartbeats.get(p);
  if (!seen || seen.mtimeMs !== mtimeMs) {
    heartbeats.set(p, { mtimeMs, since: now });
    return false;
  }
  return now - seen.since >= (opts.abandonedAfterMs ?? ABANDONED_AFTER_MS);
}

/**
 * Removes, under `root`, the folders of processes that are gone (see ownerGone) and loose files of
 * the old layout untouched for an hour. Never the folder of a live process, on this machine or
 * another sharing the data folder. Returns how many were removed.
 */
export async function removeAbandoned(root: string, keep?: string, opts: AbandonedOptions = {}): Promise<number> {
  const now = Date.now();
  let removed = 0;
  let entries: fs.Dirent[];
  try {
    entries = await fsp.readdir(root, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  const present = new Set(entries.map((e) => path.join(root, e.name)));
  // Forget the heartbeats of folders under this root that are no longer there.
  for (const p of heartbeats.keys()) if (path.dirname(p) === root && !present.has(p)) heartbeats.delete(p);
  for (const e of entries) {
    const p = path.join(root, e.name);
    if (p === keep) continue;
    const stat = await fsp.stat(p).catch(() => undefined);
    if (!stat) continue;
    const gone = e.isDirectory() ? ownerGone(p, e.name, stat.mtimeMs, now, opts) : now - stat.mtimeMs > LEGACY_STALE_MS;
    if (gone) {
      await fsp.rm(p, { recursive: true, force: true });
      heartbeats.delete(p);
      removed++;
    }
  }
  return removed;
}
