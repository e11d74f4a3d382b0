import crypto from "node:crypto";

/** `sf_` + base64url(32 random bytes): 46 characters in all. */
export const TOKEN_PATTERN = /^sf_[A-Za-z0-9_-]{43}$/;

export function generateApiToken(): string {
  return `sf_${crypto.randomBytes(32).toString("base64url")}`;
}

/** A password reset token: `sfr_` + base64url(32 random bytes), 47 characters in all. */
export const RESET_TOKEN_PATTERN = /^sfr_[A-Za-z0-9_-]{43}$/;

export function generateResetToken(): string {
  return `sfr_${crypto.randomBytes(32).toString("base64url")}`;
}

/** A magic-link secret: base64url(32 random bytes), 43 characters. */
export function generateLinkSecret(): string {
  return crypto.randomBytes(32).toString("base64url");
}

/** Hex SHA-256; the only form in which tokens and link secrets are stored. */
export function sha256Hex(value: string): string {
  return crypto.createHash("sha256").update(value, "utf8").digest("hex");
}

/** A web session's secret (the cookie's value): base64url(32 random bytes), 43 characters. */
export function generateSessionSecret(): string {
  return crypto.randomBytes(32).toString("base64url");
}

/**
 * The CSRF token of a session: an HMAC of a fixed label under the session's own secret. Only a
 * request that carries the session cookie can have it checked, nothing more is stored, and a page
 * of another origin can neither read the cookie nor compute the token.
 */
export function csrfTokenFor(sessionSecret: string): string {
  return crypto.createHmac("sha256", sessionSecret).update("speedyfiles csrf v1").digest("base64url");
}

/** Compares two secrets in constant time (for their common length). */
export function secretsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/**
 * The key that seals a session's flashes (secrets a page shows once after a redirect): derived
 * from the session's cookie secret, so the rows in the database are unreadable without the cookie.
 */
export function flashKeyFor(sessionSecret: string): Buffer {
  return crypto.createHmac("sha256", sessionSecret).update("speedyfiles flash v1").digest();
}

/** AES-256-GCM: base64url of IV (12 bytes) + tag (16 bytes) + ciphertext. */
export function seal(key: Buffer, plaintext: string): string {
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([c.update(plaintext, "utf8"), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString("base64url");
}

/** Opens what `seal` made with the same key; throws when the key or the bytes differ. */
export function unseal(key: Buffer, sealed: string): string {
  const raw = Buffer.from(sealed, "base64url");
  const d = crypto.createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
  d.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8");
}
