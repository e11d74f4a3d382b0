import crypto from "node:crypto";
import { ApiError, ValidationFailed } from "../errors.js";
import {
  completeIdempotencyKey,
  deleteIdempotencyKey,
  deleteIdempotencyKeysBefore,
  findIdempotencyKey,
  insertIdempotencyKey,
  retakeIdempotencyKey,
} from "../db/idempotency-keys.js";
import { sha256Hex } from "../security/secrets.js";
import type { Principal, Services } from "./context.js";

/** How long an answer is kept for retries. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
/** A claim still pending after this long belonged to a request that died: a retry may take it over. */
const PENDING_TAKEOVER_MS = 60_000;

export interface JsonAnswer {
  status: number;
  body: unknown;
}

/**
 * Safe retries of a POST (`Idempotency-Key`, as Stripe's API has it). The first request with a key
 * claims it and runs; its successful answer is stored, and a retry with the same key and the same
 * request (`fingerprint`) within 24 hours gets that answer again without running anything. The
 * same key with another request is 422; a retry while the first is still running, 409. A failed
 * first request releases the key, so its retry runs again (nothing was done).
 *
 * Answers can hold secrets (a finalize answers the magic link, of which only a hash is stored
 * elsewhere), so they are stored encrypted with AES-256-GCM under a key derived from the client's
 * Idempotency-Key, which the server keeps only as a hash: the stored answer is readable only by
 * whoever presents the key again.
 */
export async function replayOrRun(s: Services, user: Principal, operation: string, rawKey: string, fingerprint: string, run: () => Promise<JsonAnswer>): Promise<JsonAnswer> {
  const keyHash = sha256Hex(rawKey);
  const now = s.clock();
  const row = {
    user_id: user.userId,
    key_hash: keyHash,
    operation,
    fingerprint,
    state: "pending" as const,
    status: null,
    response: null,
    created_at: now.toISOString(),
  };
  if (!(await insertIdempotencyKey(s.db, row))) {
    const existing = await findIdempotencyKey(s.db, user.userId, keyHash);
    const age = existing ? now.getTime() - Date.parse(existing.created_at) : Infinity;
    if (!existing || age >= IDEMPOTENCY_TTL_MS) {
      // Gone meanwhile, or an answer older than a day: the key is free again.
      if (existing) await deleteIdempotencyKey(s.db, user.userId, keyHash);
      if (!(await insertIdempotencyKey(s.db, row))) throw inUse();
    } else if (existing.operation !== operation || existing.fingerprint !== fingerprint) {
      throw new ValidationFailed(
        "This Idempotency-Key was already used for a different request; use a new key for a new request",
        "/header/Idempotency-Key",
        "idempotency_key_reused",
      );
    } else if (existing.state === "done") {
      return { status: existing.status!, body: decrypt(existing.response!, rawKey, user.userId) };
    } else if (age <= PENDING_TAKEOVER_MS || !(await retakeIdempotencyKey(s.db, existing, row.created_at))) {
      // Still running (or another retry took the abandoned claim over first).
      throw inUse();
    }
  }

  let answer: JsonAnswer;
  try {
    answer = await run();
  } catch (err) {
    await deleteIdempotencyKey(s.db, user.userId, keyHash);
    throw err;
  }
  await completeIdempotencyKey(s.db, user.userId, keyHash, answer.status, encrypt(answer.body, rawKey, user.userId));
  return answer;
}

function inUse(): ApiError {
  return new ApiError(409, "idempotency_key_in_use", "A request with this Idempotency-Key is still running; retry in a moment", {
    headers: { "Retry-After": "1" },
  });
}

/** Removes stored answers older than 24 hours (run by the sweeper). */
export async function expireIdempotencyKeys(s: Services): Promise<number> {
  return deleteIdempotencyKeysBefore(s.db, new Date(s.clock().getTime() - IDEMPOTENCY_TTL_MS).toISOString());
}

/** SHA-256 of what makes two requests "the same": the operation's path and its body, keys sorted. */
export function requestFingerprint(path: string, body: unknown): string {
  return sha256Hex(`${path}\n${canonicalJson(body)}`);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v ?? null);
}

function cipherKey(rawKey: string, userId: string): Buffer {
  return Buffer.from(crypto.hkdfSync("sha256", rawKey, userId, "speedyfiles idempotent answer v1", 32));
}

function encrypt(body: unknown, rawKey: string, userId: string): string {
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv("aes-256-gcm", cipherKey(rawKey, userId), iv);
  const data = Buffer.concat([c.update(JSON.stringify(body), "utf8"), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), data]).toString("base64url");
}

function decrypt(stored: string, rawKey: string, userId: string): unknown {
  const buf = Buffer.from(stored, "base64url");
  const d = crypto.createDecipheriv("aes-256-gcm", cipherKey(rawKey, userId), buf.subarray(0, 12));
  d.setAuthTag(buf.subarray(12, 28));
  return JSON.parse(Buffer.concat([d.update(buf.subarray(28)), d.final()]).toString("utf8"));
}
