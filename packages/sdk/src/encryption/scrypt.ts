import crypto from "node:crypto";
import { Stanza, type Identity, type Recipient } from "age-encryption";

// age's scrypt recipient and identity (https://age-encryption.org/v1, "The scrypt recipient
// type") on Node's own scrypt and ChaCha20-Poly1305. age-encryption's run @noble/hashes' scrypt,
// which holds the event loop for about a second each: meanwhile no socket is served, and a
// keep-alive connection the server closed is reused for the next request (ECONNRESET).
// crypto.scrypt runs on libuv's thread pool. The checks mirror age-encryption's ScryptIdentity.

/** The work factor (log2 of scrypt's N) a passphrase file is made with: age's default. */
export const SCRYPT_WORK_FACTOR = 18;
/** The highest work factor opened (as age-encryption): 2^20 takes 1 GiB and seconds. */
export const MAX_SCRYPT_WORK_FACTOR = 20;

const LABEL = Buffer.from("age-encryption.org/v1/scrypt");
const SALT = 16;
const R = 8;
const P = 1;
/** The ChaCha20-Poly1305 nonce that wraps a file key: zero, as each wrapping key is used once. */
const NONCE = Buffer.alloc(12);
const TAG = 16;
const FILE_KEY = 16;

/** scrypt(passphrase, label ‖ salt, N = 2^logN, r = 8, p = 1): the key that wraps the file key. */
function wrappingKey(passphrase: string, salt: Uint8Array, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  // OpenSSL counts its V array (128·r·(N+2)) and B (128·r·p) against maxmem; 1 MiB to spare.
  const maxmem = 128 * R * (N + 2 + P) + 1024 * 1024;
  return new Promise((resolve, reject) => {
    crypto.scrypt(passphrase, Buffer.concat([LABEL, salt]), 32, { N, r: R, p: P, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** `b` as base64 without padding (age's encoding of stanza arguments). */
const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64").replace(/=+$/, "");

/** A stanza argument as bytes, or undefined when it is not canonical unpadded base64. */
function unb64(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*$/.test(s)) return undefined;
  const bytes = Buffer.from(s, "base64");
  return b64(bytes) === s ? bytes : undefined;
}

/** Encrypts the file key to a passphrase: one `scrypt` stanza, which age requires to be alone. */
export class ScryptRecipient implements Recipient {
  constructor(
    private readonly passphrase: string,
    private readonly logN: number = SCRYPT_WORK_FACTOR,
  ) {
    if (!Number.isInteger(logN) || logN < 1 || logN > MAX_SCRYPT_WORK_FACTOR) {
      throw new RangeError(`the scrypt work factor must be 1 to ${MAX_SCRYPT_WORK_FACTOR} (age opens no higher one)`);
    }
  }

  async wrapFileKey(fileKey: Uint8Array): Promise<Stanza[]> {
    const salt = crypto.randomBytes(SALT);
    const key = await wrappingKey(this.passphrase, salt, this.logN);
    const c = crypto.createCipheriv("chacha20-poly1305", key, NONCE, { authTagLength: TAG });
    const body = Buffer.concat([c.update(fileKey), c.final(), c.getAuthTag()]);
    key.fill(0);
    return [new Stanza(["scrypt", b64(salt), String(this.logN)], body)];
  }
}

/**
 * Opens a file encrypted to a passphrase. Returns null when no stanza is a scrypt one or the
 * passphrase does not open it (age-encryption's Decrypter then says "no identity matched", which
 * the SDK reports as `passphrase_wrong`); throws for a scrypt stanza age itself would refuse.
 */
export class ScryptIdentity implements Identity {
  constructor(private readonly passphrase: string) {}

  async unwrapFileKey(stanzas: Stanza[]): Promise<Uint8Array | null> {
    for (const s of stanzas) {
      if (s.args.length < 1 || s.args[0] !== "scrypt") continue;
      if (stanzas.length !== 1) throw new Error("scrypt recipient is not the only one in the header");
      if (s.args.length !== 3 || !/^[1-9][0-9]*$/.test(s.args[2]!)) throw new Error("invalid scrypt stanza");
      const salt = unb64(s.args[1]!);
      if (!salt || salt.length !== SALT) throw new Error("invalid scrypt stanza");
      const logN = Number(s.args[2]);
      if (logN > MAX_SCRYPT_WORK_FACTOR) throw new Error(`invalid scrypt stanza: the work factor is too high (${s.args[2]}; at most ${MAX_SCRYPT_WORK_FACTOR})`);
      if (s.body.length !== FILE_KEY + TAG) throw new Error("invalid scrypt stanza");
      const key = await wrappingKey(this.passphrase, salt, logN);
      try {
        const d = crypto.createDecipheriv("chacha20-poly1305", key, NONCE, { authTagLength: TAG });
        d.setAuthTag(s.body.subarray(FILE_KEY));
        return new Uint8Array(Buffer.concat([d.update(s.body.subarray(0, FILE_KEY)), d.final()]));
      } catch {
        // Another passphrase: not this identity's file.
      } finally {
        key.fill(0);
      }
    }
    return null;
  }
}
