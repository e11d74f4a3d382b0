import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Db } from "../db/knex.js";
import type { BlobStore } from "../storage/blob-store.js";
import type { Mailer } from "../mail/mailer.js";

/** A source of the current time; tests pass a controllable one. */
export type Clock = () => Date;

/** What services need; built once in main.ts (or by a test) and handed to createApp. */
export interface Services {
  config: Readonly<Config>;
  db: Db;
  storage: BlobStore;
  mailer: Mailer;
  logger: Logger;
  clock: Clock;
}

export function nowIso(clock: Clock): string {
  return clock().toISOString();
}

export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * 86_400_000);
}
