import fs from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { poolUse } from "../db/knex.js";
import type { Services } from "../services/context.js";

/** What one diagnostics line says (also what the soak reads from the log). */
export interface Diagnostics {
  /** Resident set size and V8's heap in use, in bytes. */
  rss: number;
  heapUsed: number;
  /** Open file descriptors (entries of /proc/self/fd); null where there is no /proc. */
  fds: number | null;
  /** Event-loop delay since the previous line, in milliseconds. */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** The database pool: connections lent out, idle, and requests waiting for one. */
  dbPool: { used: number; free: number; pending: number };
}

function openFds(): number | null {
  try {
    return fs.readdirSync("/proc/self/fd").length;
  } catch {
    return null;
  }
}

const ms = (ns: number) => Math.round(ns / 1e4) / 100;

/**
 * Every `SF_DIAGNOSTICS_INTERVAL_SECONDS` (0: off, the default), one info line `diagnostics`
 * with the process's memory, open files, event-loop delay percentiles over the interval (then
 * reset) and the database pool. For watching a long run (`pnpm soak`) or a process in production
 * that seems to grow; the figures are cheap to take. Returns a stop function.
 */
export function startDiagnostics(s: Pick<Services, "config" | "db" | "logger">): () => Promise<void> {
  const seconds = s.config.diagnosticsIntervalSeconds;
  if (seconds === 0) return async () => undefined;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const timer = setInterval(() => {
    const mem = process.memoryUsage();
    const d: Diagnostics = {
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      fds: openFds(),
      eventLoopDelayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) },
      dbPool: poolUse(s.db),
    };
    delay.reset();
    s.logger.info({ diagnostics: d }, "diagnostics");
  }, seconds * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    delay.disable();
  };
}
