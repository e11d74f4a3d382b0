import crypto from "node:crypto";
import { promisify } from "node:util";

const scrypt = promisify(crypto.scrypt) as (password: crypto.BinaryLike, salt: crypto.BinaryLike, keylen: number, options: crypto.ScryptOptions) => Promise<Buffer>;

// N=2^15, r=8, p=1 (OWASP's scrypt minimum is N=2^17 with r=8,p=1 or equivalent 2^15 with more
// memory; 2^15·8·128 B = 32 MiB per hash, ~60 ms here). The parameters are stored with each hash
// so they can be raised later without invalidating existing passwords.
const DEFAULT = { N: 2 ** 15, r: 8, p: 1, keylen: 32 };

/** `scrypt$N$r$p$salt$hash` with base64url salt and hash. */
export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const key = await scrypt(password.normalize("NFKC"), salt, DEFAULT.keylen, {
    N: DEFAULT.N,
    r: DEFAULT.r,
    p: DEFAULT.p,
    maxmem: 128 * DEFAULT.N * DEFAULT.r * 2,
  });
  return `scrypt$${DEFAULT.N}$${DEFAULT.r}$${DEFAULT.p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [, nS, rS, pS, saltS, hashS] = parts as [string, string, string, string, string, string];
  const N = Number(nS);
  const r = Number(rS);
  const p = Number(pS);
  const expected = Buffer.from(hashS, "base64url");
  const key = await scrypt(password.normalize("NFKC"), Buffer.from(saltS, "base64url"), expected.length, {
    N,
    r,
    p,
    maxmem: 128 * N * r * 2,
  });
  return key.length === expected.length && crypto.timingSafeEqual(key, expected);
}

/**
 * A hash of a random password with the default parameters. Checking a login for an unknown email
 * against it costs the same as a real check, so response time does not reveal which emails exist.
 */
let dummyHash: Promise<string> | undefined;
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(crypto.randomBytes(16).toString("hex"));
  return dummyHash;
}

/**
 * What an account made by single sign-on holds instead of a password hash: no password matches
 * it (it is not an scrypt hash), so the account signs in only through the OpenID provider, until
 * an admin sets a password for it.
 */
export const NO_PASSWORD = "!sso";

/**
 * Whether the account has a password it could sign in with or reset: one `hashPassword` made
 * (accounts made by single sign-on hold a marker instead).
 */
export function hasPassword(stored: string | null | undefined): boolean {
  return typeof stored === "string" && stored.startsWith("scrypt$");
}
