// age-encryption reads an age header line by line with no limit: a file of one endless
// "-> X25519 AAAA…" line is gathered in memory until the stream ends, and every stanza costs an
// X25519 or scrypt attempt. A header we make is under 300 bytes with one stanza; these limits
// leave room for any honest age file and make a hostile one fail within 64 KiB, memory flat.

/** Bytes an age header may take, up to and including its MAC line. */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Recipient stanzas (`-> ` lines) an age header may hold. */
export const MAX_STANZAS = 64;

const NL = 0x0a;
const STANZA = [0x2d, 0x3e, 0x20]; // "-> "
const MAC = [0x2d, 0x2d, 0x2d, 0x20]; // "--- "

/**
 * Follows the bytes of an age file as they go by (without keeping them) until its header has
 * ended: `push` answers why the file is not a valid age file, once the header passes the limits.
 */
export class AgeHeaderGuard {
  private seen = 0;
  private stanzas = 0;
  /** The first bytes (up to 4) of the line being read. */
  private head: number[] = [];
  /** The header has ended: nothing more to check. */
  done = false;

  push(chunk: Uint8Array): string | undefined {
    if (this.done) return undefined;
    for (const b of chunk) {
      this.seen++;
      if (this.seen > MAX_HEADER_BYTES) return `its header does not end within the first ${MAX_HEADER_BYTES / 1024} KiB`;
      if (b === NL) {
        if (startsWith(this.head, MAC)) {
          this.done = true;
          return undefined;
        }
        this.head = [];
        continue;
      }
      if (this.head.length < 4) {
        this.head.push(b);
        if (this.head.length === 3 && startsWith(this.head, STANZA) && ++this.stanzas > MAX_STANZAS) {
          return `its header names more than ${MAX_STANZAS} recipients`;
        }
      }
    }
    return undefined;
  }

  /** Why the file ended before its header did (undefined once the header is complete). */
  end(): string | undefined {
    return this.done ? undefined : "it ends before its header does";
  }
}

/** Why `data` (a whole age file: a sealed entry or message) is not a valid age file, or undefined. */
export function ageHeaderProblem(data: Uint8Array): string | undefined {
  const guard = new AgeHeaderGuard();
  return guard.push(data) ?? guard.end();
}

function startsWith(head: number[], prefix: number[]): boolean {
  return head.length >= prefix.length && prefix.every((b, i) => head[i] === b);
}

/** The error a guard raises in the stream it watches; decryptBody turns it into `tampered`. */
export class NotAgeFileError extends Error {
  constructor(readonly reason: string) {
    super(`not a valid age file: ${reason}`);
  }
}
