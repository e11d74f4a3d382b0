import * as age from "age-encryption";
import { DecryptionError } from "../errors.js";

/** How a recipient opens an encrypted package: the X25519 identity (the link's `#` part) or the passphrase. */
export type DecryptionKey = { identity: string } | { passphrase: string };

/** What the client encrypts to: an X25519 recipient (`age1…`) or a passphrase (age scrypt). */
export type EncryptionKey = { recipient: string } | { passphrase: string };

const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;
const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

/** Whether `s` (lowercase, `<hrp>1<data>`) carries a valid bech32 checksum. */
function bech32Valid(s: string): boolean {
  const sep = s.lastIndexOf("1");
  const hrp = s.slice(0, sep);
  const values = [...hrp]
    .map((c) => c.charCodeAt(0) >> 5)
    .concat(
      [0],
      [...hrp].map((c) => c.charCodeAt(0) & 31),
      [...s.slice(sep + 1)].map((c) => BECH32.indexOf(c)),
    );
  const gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    if (v < 0) return false;
    const top = chk >>> 25;
    chk = (((chk & 0x1ffffff) << 5) ^ v) >>> 0;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk = (chk ^ gen[i]!) >>> 0;
  }
  return chk === 1;
}

/** Whether `s` is an age X25519 identity as age writes it (`AGE-SECRET-KEY-1…`, checksum included). */
export function isIdentity(s: string): boolean {
  return IDENTITY.test(s) && bech32Valid(s.toLowerCase());
}

/**
 * Whether `s` is an age X25519 recipient (`age1…`). Post-quantum (`age1pq1…`) and plugin
 * recipients are not: Debian's age 1.1.1 could not decrypt what is encrypted to them.
 */
export function isRecipient(s: string): boolean {
  return RECIPIENT.test(s) && bech32Valid(s);
}

/** A fresh age X25519 identity and its recipient (never the post-quantum hybrid). */
export async function generateIdentity(): Promise<{ identity: string; recipient: string }> {
  const identity = await age.generateX25519Identity();
  return { identity, recipient: await age.identityToRecipient(identity) };
}

/** The recipient (`age1…`) of an X25519 identity; DecryptionError `key_malformed` for anything else. */
export async function identityToRecipient(identity: string): Promise<string> {
  if (!isIdentity(identity)) throw malformed();
  return age.identityToRecipient(identity);
}

function malformed(): DecryptionError {
  return new DecryptionError(
    "key_malformed",
    "the key after # in the link is not an age key (it should read AGE-SECRET-KEY-1 and 58 more letters and digits): copy the whole link again",
  );
}

/**
 * `…/l/<secret>#AGE-SECRET-KEY-1…` → the link without `#…` and the identity (undefined: no
 * fragment, or an empty one). A fragment that is not an age X25519 identity throws
 * DecryptionError `key_malformed`.
 */
export function splitLinkKey(link: string): { link: string; identity: string | undefined } {
  const trimmed = link.trim();
  const at = trimmed.indexOf("#");
  if (at < 0) return { link: trimmed, identity: undefined };
  const fragment = trimmed.slice(at + 1);
  const base = trimmed.slice(0, at);
  if (fragment === "") return { link: base, identity: undefined };
  let identity: string;
  try {
    identity = decodeURIComponent(fragment).toUpperCase();
  } catch {
    throw malformed();
  }
  if (!isIdentity(identity)) throw malformed();
  return { link: base, identity };
}

/** `link` with the identity as its fragment: the full link a recipient of an x25519 package needs. */
export function withLinkKey(link: string, identity: string): string {
  return `${splitLinkKey(link).link}#${identity}`;
}
