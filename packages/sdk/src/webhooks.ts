import crypto from "node:crypto";
import type { components } from "./generated/api.js";
import { SpeedyFilesError } from "./errors.js";

/** An event SpeedyFiles POSTs to a webhook (`SpeedyFiles-Event` says its `type`). */
export type WebhookEvent = components["schemas"]["WebhookEvent"];
export type WebhookEventType = components["schemas"]["WebhookEventType"];

/**
 * Every webhook event type, in the order of openapi.yaml (`ping` last: sent only by a test, see
 * `webhooks.test`). For flag choices, menus and validation at run time.
 */
export const WEBHOOK_EVENT_TYPES = [
  "package.created",
  "package.finalized",
  "package.downloaded",
  "package.uploaded",
  "package.completed",
  "package.revoked",
  "package.expired",
  "package.deleted",
  "ping",
] as const satisfies readonly WebhookEventType[];

// A type the spec gains and this list lacks fails typecheck here, naming it.
type Unlisted = Exclude<WebhookEventType, (typeof WEBHOOK_EVENT_TYPES)[number]>;
const everyTypeListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyTypeListed;

/** The signature of a webhook request is missing, malformed, wrong, or too old. */
export class WebhookSignatureError extends SpeedyFilesError {
  override readonly name: string = "WebhookSignatureError";
}

export interface VerifyOptions {
  /** How old a signed timestamp may be, in seconds (default 300). Older requests may be replays. */
  toleranceSeconds?: number;
  /** The current time (for tests). */
  now?: Date;
}

const toBuffer = (b: string | Uint8Array) => (typeof b === "string" ? Buffer.from(b, "utf8") : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function hmacHex(secret: string, timestamp: string, body: Buffer): string {
  return crypto.createHmac("sha256", secret).update(`${timestamp}.`, "utf8").update(body).digest("hex");
}

/**
 * Checks `SpeedyFiles-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`
 * against the raw request body, exactly as received (verify before parsing JSON). The comparison
 * runs in constant time. Throws WebhookSignatureError unless a `v1` matches and `t` is within the
 * tolerance.
 */
export function verifyWebhookSignature(rawBody: string | Uint8Array, header: string | null | undefined, secret: string, opts: VerifyOptions = {}): void {
  if (!header) throw new WebhookSignatureError("no SpeedyFiles-Signature header");
  let timestamp: string | undefined;
  const signatures: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t") timestamp = value;
    else if (key === "v1") signatures.push(value);
  }
  if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp) || signatures.length === 0) {
    throw new WebhookSignatureError("malformed SpeedyFiles-Signature header (expected t=<seconds>,v1=<hex>)");
  }
  const expected = Buffer.from(hmacHex(secret, timestamp, toBuffer(rawBody)), "hex");
  // Every candidate is compared (no early exit), each in constant time.
  let matched = false;
  for (const sig of signatures) {
    const wellFormed = /^[0-9a-f]{64}$/i.test(sig);
    const given = wellFormed ? Buffer.from(sig, "hex") : Buffer.alloc(expected.length);
    const equal = crypto.timingSafeEqual(given, expected);
    matched = matched || (wellFormed && equal);
  }
  if (!matched) throw new WebhookSignatureError("signature does not match: wrong secret, or the body was changed");
  const now = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const tolerance = opts.toleranceSeconds ?? 300;
  if (Math.abs(now - Number(timestamp)) > tolerance) {
    throw new WebhookSignatureError(`timestamp is ${now - Number(timestamp)} s away from now (tolerance ${tolerance} s): a replay?`);
  }
}

/** Verifies the signature (see verifyWebhookSignature), then parses the body as a typed event. */
export function parseWebhookEvent(rawBody: string | Uint8Array, header: string | null | undefined, secret: string, opts: VerifyOptions = {}): WebhookEvent {
  verifyWebhookSignature(rawBody, header, secret, opts);
  return JSON.parse(toBuffer(rawBody).toString("utf8")) as WebhookEvent;
}

/** A valid `SpeedyFiles-Signature` header for `payload`, for integrators' own tests. */
export function generateTestHeader(opts: { payload: string | Uint8Array; secret: string; timestamp?: number }): string {
  const t = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  return `t=${t},v1=${hmacHex(opts.secret, t, toBuffer(opts.payload))}`;
}
