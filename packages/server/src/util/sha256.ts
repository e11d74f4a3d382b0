import os from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import { Worker } from "node:worker_threads";

/**
 * SHA-256 of a stream, computed on a worker thread.
 *
 * Hashing on the main thread costs ~0.9 CPU-s per GiB that cannot overlap with reading the socket
 * and parsing multipart (measured with `pnpm bench`: 0.79× a bare busboy→file sink). Here the
 * bytes are copied into 1 MiB batches whose memory is transferred (not cloned) to a worker, so the
 * main thread only pays a memcpy. At most 8 MiB may wait for the worker; past that the stream
 * stops accepting data until the worker catches up, so memory stays bounded.
 */

const BATCH = 1024 * 1024;
const MAX_IN_FLIGHT = 8 * 1024 * 1024;

// An eval'd CommonJS worker: runs the same from TypeScript sources (tests) and from dist/.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const crypto = require("node:crypto");
const hashes = new Map();
parentPort.on("message", (m) => {
  if (m.t === "d") {
    let h = hashes.get(m.id);
    if (!h) { h = crypto.createHash("sha256"); hashes.set(m.id, h); }
    h.update(new Uint8Array(m.b, 0, m.n));
    parentPort.postMessage({ t: "a", id: m.id, n: m.n });
  } else if (m.t === "e") {
    const h = hashes.get(m.id) || crypto.createHash("sha256");
    hashes.delete(m.id);
    parentPort.postMessage({ t: "r", id: m.id, hex: h.digest("hex") });
  } else if (m.t === "x") {
    hashes.delete(m.id);
  }
});
`;

interface Session {
  onAck(n: number): void;
  onDigest(hex: string): void;
  onError(err: Error): void;
}

class HashWorker {
  private readonly worker: Worker;
  readonly sessions = new Map<number, Session>();

  constructor(onExit: (w: HashWorker) => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on("message", (m: { t: string; id: number; n?: number; hex?: string }) => {
      const s = this.sessions.get(m.id);
      if (!s) return;
      if (m.t === "a") s.onAck(m.n!);
      else if (m.t === "r") {
        this.sessions.delete(m.id);
        s.onDigest(m.hex!);
      }
    });
    const fail = (err: Error) => {
      for (const s of this.sessions.values()) s.onError(err);
      this.sessions.clear();
      onExit(this);
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`hash worker exited with code ${code}`)));
  }

  post(msg: unknown, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(msg, transfer);
  }
}

let pool: HashWorker[] = [];
let nextSession = 1;
let nextWorker = 0;

function pickWorker(): HashWorker {
  const size = Math.max(1, Math.min(4, os.availableParallelism() - 1));
  if (pool.length < size) {
    const w: HashWorker = new HashWorker((dead) => {
      pool = pool.filter((x) => x !== dead);
    });
    pool.push(w);
    return w;
  }
  return pool[nextWorker++ % pool.length]!;
}

/** A pass-through stream whose `digest()` resolves to the hex SHA-256 of everything that went through. */
export class Sha256Stream extends Transform {
  private readonly id = nextSession++;
  private readonly worker = pickWorker();
  private batch: Buffer | undefined;
  private fill = 0;
  private inFlight = 0;
  private held: TransformCallback | undefined;
  private failed: Error | undefined;
  private flushed = false;
  private readonly result: Promise<string>;
  private resolveDigest!: (hex: string) => void;
  private rejectDigest!: (err: Error) => void;

  constructor() {
    super({ highWaterMark: BATCH });
    this.result = new Promise<string>((resolve, reject) => {
      this.resolveDigest = resolve;
      this.rejectDigest = reject;
    });
    this.result.catch(() => undefined);
    this.worker.sessions.set(this.id, {
      onAck: (n) => {
        this.inFlight -= n;
        if (this.held && this.inFlight <= MAX_IN_FLIGHT / 2) {
          const cb = this.held;
          this.held = undefined;
          cb();
        }
      },
      onDigest: (hex) => this.resolveDigest(hex),
      onError: (err) => {
        this.failed = err;
        this.rejectDigest(err);
        this.destroy(err);
      },
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.push(chunk);
    let off = 0;
    while (off < chunk.length) {
      this.batch ??= Buffer.allocUnsafeSlow(BATCH); // its own ArrayBuffer, so it can be transferred
      const n = chunk.copy(this.batch, this.fill, off);
      this.fill += n;
      off += n;
      if (this.fill === BATCH) this.send();
    }
    if (this.inFlight > MAX_IN_FLIGHT) this.held = cb;
    else cb();
  }

  override _flush(cb: TransformCallback): void {
    this.flushed = true;
    this.send();
    this.worker.post({ t: "e", id: this.id });
    cb();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    // After a clean end (auto-destroy) the digest is still on its way: leave the session be.
    if (err || !this.flushed) {
      if (this.worker.sessions.delete(this.id)) this.worker.post({ t: "x", id: this.id });
      this.rejectDigest(err ?? new Error("hash stream destroyed before its end"));
    }
    cb(err);
  }

  private send(): void {
    if (!this.batch || this.fill === 0) return;
    const ab = this.batch.buffer as ArrayBuffer;
    this.worker.post({ t: "d", id: this.id, b: ab, n: this.fill }, [ab]);
    this.inFlight += this.fill;
    this.batch = undefined;
    this.fill = 0;
  }

  /** The hex digest, once the stream has ended. */
  digest(): Promise<string> {
    if (this.failed) return Promise.reject(this.failed);
    return this.result;
  }
}
