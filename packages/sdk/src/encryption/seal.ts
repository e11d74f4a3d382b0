import * as age from "age-encryption";
import type { components } from "../generated/api.js";
import { DecryptionError } from "../errors.js";
import { checkFileName, nameCollision } from "../file-names.js";
import { ageHeaderProblem } from "./header.js";
import { isIdentity, isRecipient, type DecryptionKey, type EncryptionKey } from "./keys.js";
import { ScryptIdentity, ScryptRecipient } from "./scrypt.js";

type File = components["schemas"]["File"];
/** A package's end-to-end encryption (`Encryption` in openapi.yaml). */
export type Encryption = components["schemas"]["Encryption"];

/** The plaintext description of one encrypted file (its sealed entry). */
export interface PlainFileMeta {
  name: string;
  size: number;
  content_type: string;
  sha256: string;
}

/**
 * A file of a view, opened: `name`, `size`, `content_type` and `sha256` are the plaintext ones,
 * and `ciphertext` keeps what the server stores (absent on a package that is not encrypted).
 */
export type OpenedFile = File & { ciphertext?: { name: string; size: number; sha256: string } };

/** `data` as an age v1 file encrypted to `key`, base64 (standard, padded): a sealed entry or message. */
export async function sealBytes(key: EncryptionKey, data: Uint8Array | string): Promise<string> {
  const enc = new age.Encrypter();
  if ("recipient" in key) {
    if (!isRecipient(key.recipient)) throw new DecryptionError("key_malformed", "the package's public key is not an age X25519 recipient (age1…)");
    enc.addRecipient(key.recipient);
  } else {
    // Node's scrypt, off the event loop (scrypt.ts); it is the header's only stanza.
    enc.addRecipient(new ScryptRecipient(key.passphrase));
  }
  return Buffer.from(await enc.encrypt(data)).toString("base64");
}

/** A file's sealed entry: its plaintext name, size, content type and SHA-256, encrypted to `key`. */
export function sealEntry(key: EncryptionKey, meta: PlainFileMeta): Promise<string> {
  return sealBytes(key, JSON.stringify({ name: meta.name, size: meta.size, content_type: meta.content_type, sha256: meta.sha256 }));
}

/**
 * The age Decrypter that opens a package encrypted with `encryption`, from `key`: DecryptionError
 * `key_missing` / `passphrase_needed` when `key` is not the kind the package needs, `key_malformed`
 * for an identity that is not one.
 */
export function decrypterFor(encryption: Encryption, key: DecryptionKey | undefined): age.Decrypter {
  const dec = new age.Decrypter();
  if (encryption.scheme === "age-scrypt") {
    if (!key || !("passphrase" in key)) {
      throw new DecryptionError("passphrase_needed", "this package is encrypted with a passphrase: give the passphrase the sender chose (the link alone does not open it)");
    }
    dec.addIdentity(new ScryptIdentity(key.passphrase));
    return dec;
  }
  if (!key || !("identity" in key)) {
    throw new DecryptionError(
      "key_missing",
      "this package is encrypted end to end and the key is missing: use the full link the sender gave you, the one that ends with #AGE-SECRET-KEY-1… (the emailed link has no key)",
    );
  }
  if (!isIdentity(key.identity)) {
    throw new DecryptionError("key_malformed", "the key is not an age key (it should read AGE-SECRET-KEY-1 and 58 more letters and digits): copy the whole link again");
  }
  dec.addIdentity(key.identity);
  return dec;
}

/** Whether an age error says that no key given matches the file's (not that the file is broken). */
export function isNoMatch(err: unknown): boolean {
  return err instanceof Error && /no identity matched/.test(err.message);
}

/** DecryptionError `key_wrong` / `passphrase_wrong`: the key given is not the package's. */
export function wrongKey(encryption: Encryption, cause?: unknown): DecryptionError {
  return encryption.scheme === "age-scrypt"
    ? new DecryptionError("passphrase_wrong", "the passphrase does not open this package: check it with the sender", { cause })
    : new DecryptionError("key_wrong", "the key in the link does not open this package: it belongs to another package, or the link was cut or changed", { cause });
}

/** DecryptionError `tampered` about `what` (a sentence naming the file or the message). */
export function tampered(what: string, file?: string, cause?: unknown): DecryptionError {
  return new DecryptionError("tampered", `${what} was changed after it was encrypted (or is damaged): it cannot be trusted, and nothing was written`, {
    cause,
    file,
  });
}

/** DecryptionError `tampered` for a decrypted name the rules refuse (`why` names the stored file). */
function badName(why: string, stored: string): DecryptionError {
  return new DecryptionError("tampered", `${why}. No SpeedyFiles client sends such a description, so someone else wrote it: nothing was written`, { file: stored });
}

const SHA256 = /^[0-9a-f]{64}$/;
/** The longest `File.sealed` and `sealed_message` (base64 characters) the server accepts (openapi.yaml). */
const MAX_SEALED_ENTRY = 8192;
const MAX_SEALED_MESSAGE = 16384;

/** Opens one sealed entry; anything but well-formed JSON of the four fields is `tampered`. */
function parseEntry(text: string, label: string): PlainFileMeta {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw tampered(`the description of ${label}`, label, err);
  }
  const m = v as Partial<PlainFileMeta>;
  if (
    typeof m !== "object" ||
    m === null ||
    typeof m.name !== "string" ||
    m.name === "" ||
    typeof m.content_type !== "string" ||
    typeof m.sha256 !== "string" ||
    !SHA256.test(m.sha256) ||
    typeof m.size !== "number" ||
    !Number.isSafeInteger(m.size) ||
    m.size < 0
  ) {
    throw tampered(`the description of ${label}`, label);
  }
  return { name: m.name, size: m.size, content_type: m.content_type, sha256: m.sha256 };
}

/**
 * A view with `files` and `message` (LinkView or PackageDetail) with its sealed parts opened:
 * each file's name/size/content_type/sha256 become the plaintext ones and the server's are kept
 * in `ciphertext: {name, size, sha256}`; `message` becomes the opened `sealed_message`. A view
 * that is not encrypted comes back as is. `key` undefined on an encrypted view → DecryptionError
 * `key_missing` (`passphrase_needed` for a passphrase package).
 */
export async function openView<V extends { encryption?: Encryption | null; sealed_message?: string | null; message: string | null; files: File[] }>(
  view: V,
  key: DecryptionKey | undefined,
): Promise<V & { files: OpenedFile[] }> {
  const encryption = view.encryption;
  if (!encryption) return view;
  const dec = decrypterFor(encryption, key);
  // Whether the key opened something yet: until it has, "no identity matched" means a wrong
  // key; after, it means a part that was swapped for one made with another key.
  let opened = false;
  const open = async (b64: string, label: string, max: number, file?: string): Promise<string> => {
    // The server refuses longer ones; a longer one, or one whose header breaks age-encryption's
    // missing limits (header.ts), was not stored through it.
    const data = Buffer.from(b64, "base64");
    const problem = b64.length > max ? `it is longer than the ${max} characters the server allows` : ageHeaderProblem(data);
    if (problem) throw new DecryptionError("tampered", `${label} is not a valid age file (${problem}): it cannot be trusted, and nothing was written`, { file });
    let text: string;
    try {
      text = await dec.decrypt(data, "text");
    } catch (err) {
      if (!opened && isNoMatch(err)) throw wrongKey(encryption, err);
      throw tampered(label, file, err);
    }
    opened = true;
    return text;
  };
  const message = view.sealed_message ? await open(view.sealed_message, "the message", MAX_SEALED_MESSAGE) : null;
  const files: OpenedFile[] = [];
  const raw: string[] = [];
  for (const f of view.files) {
    const label = `the file stored as ${f.name}`;
    if (!f.sealed) throw tampered(`${label} (it has no sealed description)`, f.name);
    const meta = parseEntry(await open(f.sealed, `the description of ${label}`, MAX_SEALED_ENTRY, f.name), label);
    // The server checks the names it can read; these it cannot, so the same rules apply here
    // (whoever wrote the entry, an uploader of an inbound link or the server, chose the name).
    const check = checkFileName(meta.name);
    if (!check.ok) throw badName(`${label} has a name the server's rules refuse (${check.reason})`, f.name);
    raw.push(meta.name);
    files.push({ ...f, ...meta, name: check.name, ciphertext: { name: f.name, size: f.size, sha256: f.sha256 } });
  }
  // Names the rules accept one by one may still land on one path on a recipient's disk.
  const clash = nameCollision(raw);
  if (clash) {
    const [a, b] = [files[clash.first]!, files[clash.second]!];
    throw badName(
      `the file stored as ${b.ciphertext!.name} is named ${JSON.stringify(b.name)} and the one stored as ${a.ciphertext!.name} ${JSON.stringify(a.name)}: ${clash.why}, so one would overwrite the other on a recipient's disk`,
      b.ciphertext!.name,
    );
  }
  return { ...view, message, files };
}
