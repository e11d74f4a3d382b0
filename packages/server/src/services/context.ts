import type { Knex } from "knex";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { BlobStore } from "../storage/blob-store.js";
import type { UploadStore } from "../storage/upload-store.js";
import type { Mailer } from "../mail/mailer.js";
export type { Role } from "../db/users.js";
/** The authenticated caller of an operation (its kind and scopes: policies/). */
export type { Principal } from "../policies/principal.js";
import type { SealingKey } from "../mail/sealing.js";
import type { Wakeup } from "../events/wakeup.js";
import type { Metrics } from "../metrics/registry.js";

/** A source of the current time; tests pass a controllable one. */
export type Clock = () => Date;

/** What services need; built once in main.ts (or by a test) and handed to createApp. */
export interface Services {
  config: Readonly<Config>;
  db: Knex;
  storage: BlobStore;
  /** The bytes of unfinished resumable (tus) uploads. */
  uploads: UploadStore;
  /** Used by the mail worker only (jobs/mail-worker.ts); services queue mail through `emit`. */
  mailer: Mailer;
  /** Seals queued mail (SF_SECRET_KEY, or the data dir's key). */
  sealingKey: SealingKey;
  /** Woken after a commit that queued mail (this process's mail worker listens). */
  mailWakeup: Wakeup;
  logger: Logger;
  clock: Clock;
  /** This process's Prometheus metrics (served when SF_METRICS_TOKEN or SF_METRICS_LISTEN is set). */
  metrics: Metrics;
}

/** Who is on the other end of a request, for audit trails. */
export interface Client {
  address: string | undefined;
  userAgent: string | undefined;
}

export function nowIso(clock: Clock): string {
  return clock().toISOString();
}

export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * 86_400_000);
}
