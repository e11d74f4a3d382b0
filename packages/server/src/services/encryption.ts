import type { components } from "../generated/api.js";
import { ValidationFailed } from "../errors.js";
import type { Direction, EncryptionScheme } from "../db/packages.js";

type Schemas = components["schemas"];

/**
 * End-to-end encryption, as the server sees it: it stores what the client sealed (age files,
 * base64) and never reads it. The rules here are the ones only the server can check: which
 * fields go together, and that every file of an encrypted package carries its sealed manifest
 * entry (and no other file does). The key never reaches the server.
 */

/** The most characters a file's sealed entry may have (as the spec says). */
export const MAX_SEALED_CHARS = 8192;
/** Standard base64, padded: whole groups of four. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The encryption columns of a new package; 422 for fields that do not go together. */
export function encryptionOfRequest(
  input: Pick<Schemas["PackageCreateRequest"], "encryption" | "message" | "sealed_message">,
  direction: Direction,
): { encryption_scheme: EncryptionScheme | null; encryption_recipient: string | null; sealed_message: string | null } {
  const enc = input.encryption;
  if (enc === undefined) {
    if (input.sealed_message !== undefined) {
      throw new ValidationFailed("sealed_message goes with encryption; a package that is not encrypted has a plain message", "/body/sealed_message");
    }
    return { encryption_scheme: null, encryption_recipient: null, sealed_message: null };
  }
  if (input.message !== undefined) {
    throw new ValidationFailed("An encrypted package has no plain message: send it encrypted, as sealed_message", "/body/message");
  }
  if (enc.scheme === "age-scrypt" && enc.recipient !== undefined) {
    throw new ValidationFailed("recipient goes with age-x25519; an age-scrypt package is opened with a passphrase", "/body/encryption/recipient");
  }
  if (direction === "inbound") {
    if (enc.scheme === "age-scrypt") {
      throw new ValidationFailed("An inbound package is encrypted with age-x25519 to the requester's recipient (age-scrypt is for outbound packages)", "/body/encryption/scheme");
    }
    if (enc.recipient === undefined) {
      throw new ValidationFailed("An encrypted inbound package needs recipient: the age1… public key the uploads are encrypted to", "/body/encryption/recipient");
    }
  }
  if (input.sealed_message !== undefined && !BASE64.test(input.sealed_message)) {
    throw new ValidationFailed("sealed_message must be standard base64 (padded) of an age file", "/body/sealed_message");
  }
  return { encryption_scheme: enc.scheme, encryption_recipient: enc.recipient ?? null, sealed_message: input.sealed_message ?? null };
}

/**
 * A file's sealed entry checked against its package: required (422 `sealed_required`) for a file
 * of an encrypted package, refused for any other, at most 8192 characters of standard base64.
 * `path` names the field in the 422 (`/body/sealed`, `/header/Upload-Metadata/sealed`).
 */
export function checkSealed(value: string | undefined, encrypted: boolean, path: string): string | null {
  if (value === undefined) {
    if (encrypted) {
      throw new ValidationFailed("This package is encrypted end to end: each file needs its sealed manifest entry (the `sealed` field, before the file)", path, "sealed_required");
    }
    return null;
  }
  if (!encrypted) throw new ValidationFailed("sealed is for a file of an encrypted package; this package is not encrypted", path);
  if (value.length > MAX_SEALED_CHARS) throw new ValidationFailed(`sealed must be at most ${MAX_SEALED_CHARS} characters`, path);
  if (value === "" || !BASE64.test(value)) throw new ValidationFailed("sealed must be standard base64 (padded) of an age file", path);
  return value;
}
