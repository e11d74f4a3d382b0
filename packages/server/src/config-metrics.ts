import { parseListenAddress } from "./util/listen-address.js";

interface Readers {
  str(name: string): string | null;
  int(name: string, def: number, min: number, max: number): number;
}

/** The metrics settings (SF_METRICS_*): where `GET /metrics` is served, and how long a scrape waits for the database. */
export function readMetricsConfig(
  r: Readers,
  main: { port: number; bind: string },
  problems: string[],
): { metricsToken: string | null; metricsListen: { host: string; port: number } | null; metricsDbTimeoutMs: number } {
  const { port, bind } = main;
  const metricsToken = r.str("SF_METRICS_TOKEN");
  // Never echoed: the value is a secret (and a mistyped one may be the real one with a typo).
  if (metricsToken !== null && !/^[\x21-\x7e]{16,512}$/.test(metricsToken)) {
    problems.push("SF_METRICS_TOKEN must be 16 to 512 printable characters without spaces (make one with: openssl rand -hex 32)");
  }
  const listenRaw = r.str("SF_METRICS_LISTEN");
  const listen = listenRaw === null ? null : parseListenAddress(listenRaw);
  if (typeof listen === "string") problems.push(`SF_METRICS_LISTEN ${listen} (got "${listenRaw}")`);
  const metricsListen = typeof listen === "string" ? null : listen;
  if (metricsListen && metricsListen.port !== 0 && metricsListen.port === port && (metricsListen.host === bind || metricsListen.host === "0.0.0.0" || bind === "0.0.0.0")) {
    problems.push(`SF_METRICS_LISTEN must not use SF_PORT's port ${port}: it is a separate listener (use another port, or SF_METRICS_TOKEN to serve /metrics on the main port)`);
  }
  return { metricsToken, metricsListen, metricsDbTimeoutMs: r.int("SF_METRICS_DB_TIMEOUT_MS", 2000, 10, 60_000) };
}
