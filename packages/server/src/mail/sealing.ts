import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";

/**
 * The server key that seals queued mail (AES-256-GCM): a queued link email carries the link's
 * secret, and the database otherwise holds only hashes of secrets. `id` names the key without
 * revealing it (the first 16 hex digits of its SHA-256), so a process only claims the messages it
 * can open.
 */
export interface SealingKey {
  id: string;
  key: Buffer;
}

const VERSION = "v1";

export function sealingKey(key: Buffer): SealingKey {
  if (key.length !== 32) throw new Error("a sealing key is 32 bytes");
  return { id: crypto.createHash("sha256").update(key).digest("hex").slice(0, 16), key };
}

/** `v1.<base64url of iv | tag | ciphertext>`; `aad` (the row's id) binds the body to its row. */
export function seal(k: SealingKey, plaintext: string, aad: string): string {
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv("aes-256-gcm", k.key, iv);
  c.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([c.update(plaintext, "utf8"), c.final()]);
  return `${VERSION}.${Buffer.concat([iv, c.getAuthTag(), ct]).toString("base64url")}`;
}

/** Opens what `seal` made with the same key and `aad`; throws on any change. */
export function unseal(k: SealingKey, sealed: string, aad: string): string {
  const [version, data] = sealed.split(".");
  if (version !== VERSION || !data) throw new Error("unknown sealed format");
  const raw = Buffer.from(data, "base64url");
  const d = crypto.createDecipheriv("aes-256-gcm", k.key, raw.subarray(0, 12));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8");
}

/**
 * The key of `<dataDir>/secret.key` (base64 of 32 bytes, mode 0600), made on first use. Two
 * processes starting at once on one data dir agree: the file is created exclusively, and the
 * loser reads the winner's.
 */
export async function dataDirKey(dataDir: string): Promise<Buffer> {
  const file = path.join(dataDir, "secret.key");
  await fs.mkdir(dataDir, { recursive: true });
  try {
    const key = crypto.randomBytes(32);
    await fs.writeFile(file, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  // Written by another process a moment ago: wait for its content.
  for (let i = 0; ; i++) {
    const key = Buffer.from((await fs.readFile(file, "utf8")).trim(), "base64");
    if (key.length === 32) return key;
    if (i >= 50) throw new Error(`${file} does not hold a key (base64 of 32 bytes); remove it to make a new one`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
