import crypto from "node:crypto";

/** `whsec_` + base64url(32 random bytes). */
export function generateWebhookSecret(): string {
  return `whsec_${crypto.randomBytes(32).toString("base64url")}`;
}

/**
 * `SpeedyFiles-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, as
 * Stripe signs its webhooks: the timestamp is signed with the body, so a captured request cannot
 * be replayed later than the receiver's tolerance. The SDK's verifyWebhookSignature checks it.
 */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const v1 = crypto.createHmac("sha256", secret).update(`${unixSeconds}.${body}`, "utf8").digest("hex");
  return `t=${unixSeconds},v1=${v1}`;
}
