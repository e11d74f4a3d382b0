import { Counter, Gauge, type Registry } from "prom-client";
import type { Knex } from "knex";
import { mailQueueStats } from "../db/mail-outbox.js";
import { countOpenUploads } from "../db/uploads.js";
import { webhookQueueStats } from "../db/webhooks.js";

const P = "speedyfiles_";
/** Said in the help of every figure read from the database. */
const SHARED = "Instance-wide (read from the shared database): every server process reports the same value, so aggregate with max, not sum.";

interface Figures {
  tusOpen: number;
  webhookDepth: number;
  webhookOldest: string | null;
  mailDepth: number;
  mailOldest: string | null;
}

class TimedOut extends Error {
  constructor(ms: number) {
    super(`the database did not answer within ${ms} ms`);
  }
}

/**
 * The figures a scrape reads from the database: unfinished resumable uploads, and the depth and
 * oldest item of the webhook and mail queues. Each read is a count on an indexed column.
 *
 * A scrape waits for them at most `dbTimeoutMs`: a slow or unreachable database must not hang
 * /metrics (the process's own figures still answer). Then the previous values stay,
 * `speedyfiles_scrape_errors_total{source="database"}` counts the miss and
 * `speedyfiles_scrape_database_up` is 0. One read runs at a time: scrapes against a stuck
 * database share it instead of piling up queries waiting for a connection.
 */
export class InstanceGauges {
  private readonly tusOpen: Gauge;
  private readonly webhookDepth: Gauge;
  private readonly webhookOldest: Gauge;
  private readonly mailDepth: Gauge;
  private readonly mailOldest: Gauge;
  private readonly errors: Counter<"source">;
  private readonly up: Gauge;
  private reading: Promise<Figures> | undefined;
  private failing = false;

  constructor(
    registry: Registry,
    private readonly opts: { db: Knex; clock: () => Date; dbTimeoutMs: number; onDbFailure?: (err: unknown) => void },
  ) {
    const registers = [registry];
    const gauge = (name: string, help: string) => new Gauge({ name: `${P}${name}`, help: `${help} ${SHARED}`, registers });
    this.tusOpen = gauge("tus_uploads_open", "Resumable (tus) uploads started and not yet finished or expired.");
    this.webhookDepth = gauge("webhook_queue_depth", "Webhook deliveries not yet delivered or given up (due now or waiting for a retry).");
    this.webhookOldest = gauge("webhook_queue_oldest_seconds", "Age of the oldest webhook delivery still pending, in seconds (0: none).");
    this.mailDepth = gauge("mail_queue_depth", "Emails queued and not yet sent or given up.");
    this.mailOldest = gauge("mail_queue_oldest_seconds", "Age of the oldest queued email, in seconds (0: none).");
    this.errors = new Counter({
      name: `${P}scrape_errors_total`,
      help: "Scrapes of this process that answered without fresh database figures (the database failed or was slower than SF_METRICS_DB_TIMEOUT_MS), by source.",
      labelNames: ["source"],
      registers,
    });
    this.errors.inc({ source: "database" }, 0);
    this.up = new Gauge({
      name: `${P}scrape_database_up`,
      help: "1 when this scrape read its database figures in time, 0 when they are the previous values.",
      registers,
    });
  }

  /** Reads the figures into the gauges, or counts a miss; never throws, never waits past the limit. */
  async refresh(): Promise<void> {
    const reading = (this.reading ??= this.read().finally(() => {
      if (this.reading === reading) this.reading = undefined;
    }));
    // A read abandoned at the limit may still fail later, when nobody waits for it.
    reading.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimedOut(this.opts.dbTimeoutMs)), this.opts.dbTimeoutMs);
    });
    try {
      this.show(await Promise.race([reading, limit]));
      this.up.set(1);
      this.failing = false;
    } catch (err) {
      this.errors.inc({ source: "database" });
      this.up.set(0);
      // Told once per outage, not at every scrape.
      if (!this.failing) this.opts.onDbFailure?.(err);
      this.failing = true;
    } finally {
      clearTimeout(timer);
    }
  }

  private async read(): Promise<Figures> {
    const { db } = this.opts;
    const tusOpen = await countOpenUploads(db, this.opts.clock().toISOString());
    const webhooks = await webhookQueueStats(db);
    const mail = await mailQueueStats(db);
    return { tusOpen, webhookDepth: webhooks.depth, webhookOldest: webhooks.oldest, mailDepth: mail.depth, mailOldest: mail.oldest };
  }

  private show(f: Figures): void {
    const now = this.opts.clock().getTime();
    const age = (at: string | null) => (at === null ? 0 : Math.max(0, (now - Date.parse(at)) / 1000));
    this.tusOpen.set(f.tusOpen);
    this.webhookDepth.set(f.webhookDepth);
    this.webhookOldest.set(age(f.webhookOldest));
    this.mailDepth.set(f.mailDepth);
    this.mailOldest.set(age(f.mailOldest));
  }
}
