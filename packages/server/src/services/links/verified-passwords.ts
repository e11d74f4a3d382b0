import crypto from "node:crypto";
import type { Services } from "../context.js";

/** How long a password found right is taken on trust. */
const VERIFIED_MS = 5 * 60_000;
/** Entries kept at most (all dropped at once past it: a wrong guess never adds one). */
const MAX_ENTRIES = 10_000;

/**
 * Passwords recently found right, so a recipient fetching a thousand files with X-Link-Password
 * pays for one scrypt (32 MiB, ~60 ms), not a thousand. In memory, one cache per server (its
 * Services), timed by that server's clock; kept as an HMAC under a random key (never the
 * password) tied to the stored hash, so a changed password no longer matches. A wrong password
 * is always checked in full.
 */
export class VerifiedPasswords {
  private readonly until = new Map<string, number>();
  private readonly key = crypto.randomBytes(32);

  private keyOf(hash: string, password: string): string {
    return crypto.createHmac("sha256", this.key).update(hash).update("\0").update(password.normalize("NFKC")).digest("base64url");
  }

  /** Whether `password` was found right for `hash` less than five minutes before `now`. */
  has(hash: string, password: string, now: Date): boolean {
    const until = this.until.get(this.keyOf(hash, password));
    return until !== undefined && until > now.getTime();
  }

  /** Remembers that `password` is right for `hash`, from `now`. */
  add(hash: string, password: string, now: Date): void {
    if (this.until.size >= MAX_ENTRIES) this.until.clear();
    this.until.set(this.keyOf(hash, password), now.getTime() + VERIFIED_MS);
  }
}

const perServer = new WeakMap<Services, VerifiedPasswords>();

/** The cache of this server (made on first use). */
export function verifiedPasswords(s: Services): VerifiedPasswords {
  let v = perServer.get(s);
  if (!v) perServer.set(s, (v = new VerifiedPasswords()));
  return v;
}
