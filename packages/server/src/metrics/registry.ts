import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Knex } from "knex";
import { poolUse } from "../db/knex.js";
import { InstanceGauges } from "./instance-gauges.js";

/** Every family's name starts with this. */
export const METRIC_PREFIX = "speedyfiles_";

/**
 * Request durations in seconds: API calls take milliseconds, uploads and downloads of large files
 * and the events long-poll take minutes.
 */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** What the transfer paths (uploads, downloads) report while they stream. */
export interface TransferMeter {
  /** Bytes of a file received from a client (multipart or tus), as they arrive. */
  uploaded(bytes: number): void;
  /** Bytes of a file or zip sent to a client, as they leave. */
  downloaded(bytes: number): void;
  /** A request starts receiving a file's bytes; call what it returns once, when it ends. */
  uploadStarted(): () => void;
}

export interface MetricsOptions {
  /** Serve and collect (SF_METRICS_TOKEN or SF_METRICS_LISTEN set). Off: the families exist but nothing else runs. */
  enabled: boolean;
  db: Knex;
  clock: () => Date;
  /** The scrape's time limit for its database figures. */
  dbTimeoutMs: number;
  onDbFailure?: (err: unknown) => void;
}

/**
 * This process's metrics, in a registry of its own (never prom-client's global one: several apps
 * in one process, as in the tests, each count their own). Counters move in the request and
 * transfer paths; the database figures are read when scraped (`scrape`).
 */
export class Metrics implements TransferMeter {
  readonly enabled: boolean;
  readonly registry = new Registry();
  private readonly requestDuration: Histogram<"operation" | "status">;
  private readonly uploadBytes: Counter;
  private readonly downloadBytes: Counter;
  private readonly uploadsInFlight: Gauge;
  private readonly sweeperRuns: Counter<"result">;
  private readonly sweeperLastRun: Gauge;
  private readonly sweeperLastDuration: Gauge;
  private readonly instance: InstanceGauges;

  constructor(opts: MetricsOptions) {
    this.enabled = opts.enabled;
    const registers = [this.registry];
    this.requestDuration = new Histogram({
      name: `${METRIC_PREFIX}http_request_duration_seconds`,
      help: "Time from a request's arrival until its answer was sent (or the client went away), by operation (the openapi operationId; web, assets, docs, metrics or unknown otherwise) and status class.",
      labelNames: ["operation", "status"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.uploadBytes = new Counter({
      name: `${METRIC_PREFIX}upload_bytes_total`,
      help: "Bytes of files received from clients by this process (multipart and resumable uploads, owners and links), counted as they arrive.",
      registers,
    });
    this.downloadBytes = new Counter({
      name: `${METRIC_PREFIX}download_bytes_total`,
      help: "Bytes of files and zips sent to clients by this process, counted as they leave (offloaded downloads, presigned URLs or X-Accel-Redirect, are not this process's bytes).",
      registers,
    });
    this.uploadsInFlight = new Gauge({
      name: `${METRIC_PREFIX}uploads_in_flight`,
      help: "Requests of this process receiving a file's bytes now (a multipart upload, or a tus creation or PATCH carrying bytes).",
      registers,
    });
    this.sweeperRuns = new Counter({
      name: `${METRIC_PREFIX}sweeper_runs_total`,
      help: "Passes of this process's expiry sweeper, by result (ok or failed).",
      labelNames: ["result"],
      registers,
    });
    this.sweeperLastRun = new Gauge({
      name: `${METRIC_PREFIX}sweeper_last_run_timestamp_seconds`,
      help: "When this process's sweeper last finished a pass (Unix time; 0: not yet).",
      registers,
    });
    this.sweeperLastDuration = new Gauge({
      name: `${METRIC_PREFIX}sweeper_last_run_duration_seconds`,
      help: "How long this process's last sweeper pass took.",
      registers,
    });
    for (const result of ["ok", "failed"]) this.sweeperRuns.inc({ result }, 0);
    const db = opts.db;
    new Gauge({
      name: `${METRIC_PREFIX}db_pool_connections`,
      help: "This process's database connections by state: used (lent out), free (idle) and pending (requests waiting for one).",
      labelNames: ["state"],
      registers,
      collect() {
        const p = poolUse(db);
        this.set({ state: "used" }, p.used);
        this.set({ state: "free" }, p.free);
        this.set({ state: "pending" }, p.pending);
      },
    });
    this.instance = new InstanceGauges(this.registry, opts);
    // The process's CPU, memory, open files, GC and event-loop delay (speedyfiles_nodejs_eventloop_lag_*).
    if (opts.enabled) collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX, eventLoopMonitoringPrecision: 10 });
  }

  /** One finished (or abandoned) request. */
  observeRequest(operation: string, statusCode: number, seconds: number): void {
    this.requestDuration.observe({ operation, status: statusClass(statusCode) }, seconds);
  }

  uploaded(bytes: number): void {
    this.uploadBytes.inc(bytes);
  }

  downloaded(bytes: number): void {
    this.downloadBytes.inc(bytes);
  }

  uploadStarted(): () => void {
    this.uploadsInFlight.inc();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.uploadsInFlight.dec();
    };
  }

  /** A sweeper pass ended. */
  sweeperRan(ok: boolean, seconds: number, endedAt: Date): void {
    this.sweeperRuns.inc({ result: ok ? "ok" : "failed" });
    this.sweeperLastRun.set(endedAt.getTime() / 1000);
    this.sweeperLastDuration.set(seconds);
  }

  /** The exposition: reads the database figures (within the time limit), then every family as text. */
  async scrape(): Promise<string> {
    await this.instance.refresh();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** `2xx` for 204, and so on; anything outside 100–599 (never sent) counts as `5xx`. */
export function statusClass(code: number): string {
  return code >= 100 && code < 600 ? `${Math.floor(code / 100)}xx` : "5xx";
}
