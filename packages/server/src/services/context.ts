import type { Knex } from "knex";
import type { components } from "@speedyfiles/api-types";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { BlobStore } from "../storage/blob-store.js";
import type { UploadStore } from "../storage/upload-store.js";
import type { Mailer } from "../mail/mailer.js";
import type { SealingKey } from "../mail/sealing.js";
import type { Wakeup } from "../events/wakeup.js";
export type { Role };
import type { Role } from "../db/users.js";

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
}

/**
 * The authenticated caller of an operation: a user, through one of their API tokens (`tokenId`)
 * or a signed-in browser session of the web interface (`sessionId`).
 */
export interface Principal {
  userId: string;
  role: Role;
  /** The API token the caller used (absent for a browser session). */
  tokenId?: string;
  /** The web session the caller used (absent for an API token). */
  sessionId?: string;
  /** The user as the API shows it, when the authentication already read it (saves a query). */
  profile?: components["schemas"]["User"];
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
