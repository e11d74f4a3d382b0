import crypto from "node:crypto";
import type { Knex } from "knex";
import type { ApiError } from "../errors.js";
import { deleteQuotaReservation, heldBytes, insertQuotaReservation, lockQuotaOwner, renewQuotaReservation } from "../db/quota.js";
import { lockPackage } from "../db/packages.js";
import { fileTooLarge, quotaFull, type EffectiveRules } from "../policies/instance-rules.js";
import type { Services } from "./context.js";

/**
 * The storage quota (`quota_bytes_per_user`): what a user holds in draft and active packages, plus
 * unfinished resumable uploads at their announced length, plus the room held by multipart uploads
 * under way. Every upload takes its room before its first byte is stored, in a transaction that
 * locks the owner's row (PostgreSQL; SQLite runs one transaction at a time): uploads at once, in
 * one process or several, cannot together pass the quota. A resumable upload's row is its
 * reservation (services/uploads.ts); a multipart upload's is a `quota_reservations` row, held
 * here and dropped in the transaction that records its file. Locks are always taken package
 * first, then owner (as a tus creation and a file's recording take them), so that none waits on
 * another in a cycle.
 */

/** How long a multipart upload's reservation lasts unless renewed (a dead process's lapses), and how often it is. */
const LEASE_MS = 10 * 60_000;
const RENEW_MS = 60_000;

/** What the request says of its size before its body is read. */
export interface AnnouncedSize {
  /** The file has at least this many bytes (Content-Length less the multipart framing allowance). */
  atLeast: number;
  /** …and at most this many (Content-Length); undefined when not announced. */
  atMost: number | undefined;
}

/** A file's limits before the quota: the server's (SF_MAX_FILE_BYTES, room left in the package) and the policy's max_file_bytes. */
export interface FileLimit {
  maxBytes: number;
  tooLarge(): ApiError;
}

/** The tighter of the server's limit and the policy's max_file_bytes. */
export function withPolicyFileLimit(server: FileLimit, rules: EffectiveRules): FileLimit {
  const rule = rules.max_file_bytes;
  return rule !== null && rule < server.maxBytes ? { maxBytes: rule, tooLarge: () => fileTooLarge(rule) } : server;
}

/** The room a multipart upload may fill while its bytes arrive. */
export interface UploadRoom extends FileLimit {
  /** The quota reservation the file's row replaces in its transaction (none without a quota). */
  reservationId: string | undefined;
  /** Gives the room back: after the file was recorded (its row holds the bytes now) or refused. Never throws. */
  release(): Promise<void>;
}

const NOTHING_HELD = async () => undefined;

/**
 * Takes the room a multipart upload needs in its owner's quota before a byte is read: refused at
 * once (422 `quota_exceeded`) when the announced size cannot fit; otherwise as much as it announced
 * (or, unannounced, as much as may be left) is reserved, and the stream is cut where the room ends.
 */
export async function holdUploadRoom(
  s: Services,
  owner: { id: string; rules: EffectiveRules },
  packageId: string,
  limit: FileLimit,
  announced: AnnouncedSize,
  through: "owner" | "link",
): Promise<UploadRoom> {
  if (announced.atLeast > limit.maxBytes) throw limit.tooLarge();
  const quota = owner.rules.quota_bytes_per_user;
  if (quota === null) return { ...limit, reservationId: undefined, release: NOTHING_HELD };
  const id = crypto.randomUUID();
  const now = s.clock();
  const { bytes, held } = await s.db.transaction(async (trx) => {
    // The reservation refers to the package (its row is read-locked by the insert): the package's
    // lock first, as everywhere.
    await lockPackage(trx, packageId);
    await lockQuotaOwner(trx, owner.id);
    const heldNow = await heldBytes(trx, owner.id, now.toISOString());
    const left = quota - heldNow;
    if (left < 0 || announced.atLeast > left) throw quotaFull(quota, heldNow, through);
    const room = Math.min(announced.atMost ?? Number.POSITIVE_INFINITY, limit.maxBytes, left);
    await insertQuotaReservation(trx, {
      id,
      user_id: owner.id,
      package_id: packageId,
      bytes: room,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + LEASE_MS).toISOString(),
    });
    return { bytes: room, held: heldNow };
  });
  const renew = setInterval(() => {
    renewQuotaReservation(s.db, id, new Date(s.clock().getTime() + LEASE_MS).toISOString()).catch((err: unknown) =>
      s.logger.warn({ err }, "could not renew an upload's quota reservation"),
    );
  }, RENEW_MS);
  renew.unref();
  return {
    maxBytes: Math.min(limit.maxBytes, bytes),
    tooLarge: bytes < limit.maxBytes ? () => quotaFull(quota, held, through) : limit.tooLarge,
    reservationId: id,
    release: async () => {
      clearInterval(renew);
      await deleteQuotaReservation(s.db, id).catch((err: unknown) => s.logger.error({ err }, "could not release an upload's quota reservation"));
    },
  };
}

/**
 * Within a transaction that is about to add `size` bytes to what the owner holds (an unfinished
 * resumable upload, or the files of an expired package brought back): 422 `quota_exceeded`
 * unless they fit in the owner's quota. Locks the owner's row until the transaction ends (the
 * upload's or package's row then holds the room).
 */
export async function checkUploadFits(
  trx: Knex,
  ownerId: string,
  rules: EffectiveRules,
  size: number,
  now: string,
  through: "owner" | "link",
  path = "/header/Upload-Length",
): Promise<void> {
  const quota = rules.quota_bytes_per_user;
  if (quota === null) return;
  await lockQuotaOwner(trx, ownerId);
  const held = await heldBytes(trx, ownerId, now);
  if (held + size > quota) throw quotaFull(quota, held, through, path);
}
