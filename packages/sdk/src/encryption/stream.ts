import crypto from "node:crypto";
import * as age from "age-encryption";
import { SpeedyFilesError } from "../errors.js";
import type { UploadTransform } from "../transfer/transform.js";
import type { EncryptionKey } from "./keys.js";
import { isRecipient } from "./keys.js";
import { ScryptRecipient } from "./scrypt.js";

/** Plaintext bytes per STREAM chunk (age v1). */
export const AGE_CHUNK = 64 * 1024;
/** The Poly1305 tag each chunk adds. */
const TAG = 16;
/** Encrypted chunks gathered into one buffer handed to the transport (about 1 MiB). */
const BATCH = 16;

/** The size of an age v1 payload (STREAM, without header and nonce) of `plaintext` bytes. */
export function payloadSize(plaintext: number): number {
  return plaintext + TAG * Math.max(1, Math.ceil(plaintext / AGE_CHUNK));
}

/** An age v1 header for one file: its bytes with the 16-byte payload nonce, and the payload key. */
export interface AgeHeader {
  /** The header (up to and including the MAC line) followed by the payload nonce. */
  prefix: Buffer;
  /** HKDF-SHA-256(file key, nonce, "payload"): the ChaCha20-Poly1305 key of the chunks. */
  payloadKey: Buffer;
}

/**
 * Makes one file's age header, file key and nonce. age-encryption draws them afresh inside
 * `encrypt()`; encrypting an empty input yields header ‖ nonce ‖ one 16-byte tag, and the file
 * key is learnt from a recipient of ours that records it and adds no stanza.
 */
export async function makeHeader(key: EncryptionKey): Promise<AgeHeader> {
  const enc = new age.Encrypter();
  if ("recipient" in key) {
    if (!isRecipient(key.recipient)) throw new SpeedyFilesError("the package's public key is not an age X25519 recipient (age1…): cannot encrypt to it");
    enc.addRecipient(key.recipient);
  } else {
    enc.addRecipient(new ScryptRecipient(key.passphrase));
  }
  let fileKey: Uint8Array | undefined;
  enc.addRecipient({
    wrapFileKey(k: Uint8Array) {
      fileKey = Uint8Array.from(k);
      return [];
    },
  });
  const empty = await enc.encrypt(new Uint8Array(0));
  const nonce = empty.subarray(empty.length - 2 * TAG, empty.length - TAG);
  if (!fileKey) throw new Error("age-encryption did not hand the file key to every recipient");
  const payloadKey = Buffer.from(crypto.hkdfSync("sha256", fileKey, nonce, "payload", 32));
  fileKey.fill(0);
  return { prefix: Buffer.from(empty.subarray(0, empty.length - TAG)), payloadKey };
}

/** One STREAM chunk: ChaCha20-Poly1305 under the 11-byte big-endian counter ‖ last-chunk flag. */
function sealChunk(key: Buffer, counter: number, last: boolean, plain: Buffer, out: Buffer, at: number): number {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(counter), 3);
  nonce[11] = last ? 1 : 0;
  const c = crypto.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG });
  let n = c.update(plain).copy(out, at);
  n += c.final().copy(out, at + n);
  n += c.getAuthTag().copy(out, at + n);
  return n;
}

/**
 * The age v1 payload (STREAM) of `input`: 64 KiB chunks, each sealed under its counter, the last
 * one flagged (and empty only when the whole input is). Deterministic for one header: the same
 * input makes the same bytes on every run.
 */
export async function* encryptPayload(header: AgeHeader, input: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void, undefined> {
  // One full chunk is held back until more input shows it is not the last.
  const plain = Buffer.allocUnsafe(AGE_CHUNK);
  let used = 0;
  let counter = 0;
  let out = Buffer.allocUnsafe(BATCH * (AGE_CHUNK + TAG));
  let outUsed = 0;
  const flush = function* () {
    if (outUsed > 0) {
      // A fresh buffer per batch: the transport may still hold the last one.
      yield out.subarray(0, outUsed);
      out = Buffer.allocUnsafe(BATCH * (AGE_CHUNK + TAG));
      outUsed = 0;
    }
  };
  for await (let chunk of input) {
    while (chunk.length > 0) {
      if (used === AGE_CHUNK) {
        outUsed += sealChunk(header.payloadKey, counter++, false, plain, out, outUsed);
        used = 0;
        if (outUsed + AGE_CHUNK + TAG > out.length) yield* flush();
      }
      const n = chunk.copy(plain, used);
      used += n;
      chunk = chunk.subarray(n);
    }
  }
  outUsed += sealChunk(header.payloadKey, counter, true, plain.subarray(0, used), out, outUsed);
  yield* flush();
}

/**
 * The upload transform of end-to-end encryption: the file as an age v1 file (header ‖ nonce ‖
 * STREAM). Header, file key and nonce are made once, in `create`, so that a resumable upload that
 * goes back and runs it again gets the very same bytes (see decision 0040).
 */
export class AgeEncryptTransform implements UploadTransform {
  private constructor(private readonly header: AgeHeader) {}

  /** A transform for one file, encrypting to `key`. */
  static async create(key: EncryptionKey): Promise<AgeEncryptTransform> {
    return new AgeEncryptTransform(await makeHeader(key));
  }

  outputSize(inputSize: number): number {
    return this.header.prefix.length + payloadSize(inputSize);
  }

  async *apply(input: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
    yield this.header.prefix;
    yield* encryptPayload(this.header, input);
  }
}
