import crypto from "node:crypto";

/**
 * The SHA-256 of a byte stream that may pass several times or out of order (a resumable upload
 * sends bytes again after a failure): each byte counts once, in order. `see` takes a chunk and
 * where it starts; what is not next in line is ignored, what overlaps is counted from the gap on.
 */
export class StreamHash {
  /** Bytes counted so far: the hash covers `0..hashed`. */
  hashed = 0;
  private readonly hash = crypto.createHash("sha256");

  see(chunk: Buffer, pos: number): void {
    if (pos === this.hashed) {
      this.hash.update(chunk);
      this.hashed += chunk.length;
    } else if (pos < this.hashed && pos + chunk.length > this.hashed) {
      // A view, not a copy; only where a resend overlaps the end of what is counted.
      this.hash.update(chunk.subarray(this.hashed - pos));
      this.hashed = pos + chunk.length;
    }
  }

  digest(): string {
    return this.hash.digest("hex");
  }
}
