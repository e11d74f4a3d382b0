import type { ClientRateLimitInfo, Options, Store } from "express-rate-limit";
import { MemoryStore } from "express-rate-limit";
import type { Db } from "../db/knex.js";
import { isPostgres } from "../db/knex.js";
import { decrementOpenRateCounter, deleteExpiredRateCounters, deleteRateCounter, findRateCounter, incrementRateCounter, type RateCounter } from "../db/rate-limits.js";
import { sha256Hex } from "../security/secrets.js";

const toInfo = (c: RateCounter): ClientRateLimitInfo => ({ totalHits: c.hits, resetTime: new Date(c.resetAt) });

/** Expired counters are deleted at most this often, by whichever process counts next. */
const CLEANUP_EVERY_MS = 60_000;

/**
 * express-rate-limit's counters in the `rate_limits` table, so that every server process on one
 * PostgreSQL database counts toward the same limits: a client cannot get n times the guesses by
 * spreading them over n processes behind a load balancer.
 *
 * One row per counter; an increment is one upsert that starts a new window when the old one has
 * passed. Keys are stored as SHA-256 of `prefix:key`: they hold client addresses and the email
 * addresses of failed logins, which the database has no need to read.
 *
 * Why not `@acpr/rate-limit-postgresql` (the store express-rate-limit lists): each store opens a
 * pool of its own (ten connections for every limiter, beside ours), needs the `uuid-ossp`
 * extension (a superuser's job on managed PostgreSQL), runs its migrations unawaited from the
 * constructor, so the first requests race them, and logs with console.error. What is left to
 * write is the few statements of db/rate-limits.ts; the limiting itself stays express-rate-limit's.
 */
export class DbRateLimitStore implements Store {
  /** Counters are shared with other processes: express-rate-limit must not assume they are ours. */
  localKeys = false;
  private windowMs = 60_000;
  private lastCleanup = 0;

  constructor(
    private readonly db: Db,
    readonly prefix: string,
  ) {}

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  private keyOf(key: string): string {
    return sha256Hex(`${this.prefix}:${key}`);
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const counter = await findRateCounter(this.db, this.keyOf(key), Date.now());
    return counter ? toInfo(counter) : undefined;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const now = Date.now();
    await this.cleanup(now);
    return toInfo(await incrementRateCounter(this.db, this.keyOf(key), now, this.windowMs));
  }

  async decrement(key: string): Promise<void> {
    await decrementOpenRateCounter(this.db, this.keyOf(key), Date.now());
  }

  async resetKey(key: string): Promise<void> {
    await deleteRateCounter(this.db, this.keyOf(key));
  }

  private async cleanup(now: number): Promise<void> {
    if (now - this.lastCleanup < CLEANUP_EVERY_MS) return;
    this.lastCleanup = now;
    await deleteExpiredRateCounters(this.db, now);
  }
}

/**
 * The store for one limiter: the database on PostgreSQL, where several processes may serve; memory
 * on SQLite, which one process serves alone (it refuses to start beside another, see db/instance-lock.ts).
 */
export function rateLimitStore(db: Db, prefix: string): Store {
  return isPostgres(db) ? new DbRateLimitStore(db, prefix) : new MemoryStore();
}
