import crypto from "node:crypto";

/** `sf_` + base64url(32 random bytes): 46 characters in all. */
export const TOKEN_PATTERN = /^sf_[A-Za-z0-9_-]{43}$/;

export function generateApiToken(): string {
  return `sf_${crypto.randomBytes(32).toString("base64url")}`;
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
