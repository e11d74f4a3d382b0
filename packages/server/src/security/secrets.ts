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
