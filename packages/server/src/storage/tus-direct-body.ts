import { AsyncLocalStorage } from "node:async_hooks";
import type { Readable } from "node:stream";

/**
 * The request body of the tus request being handled, as the Node stream it arrives as. srvx hands
 * @tus/server the body as a web stream, which @tus/server turns back into a Node stream: at
 * 400 MB/s that round trip cost a sixth of the CPU in garbage collection alone. With the body
 * here (http/tus.ts sets it, and gives @tus/server an empty one), `write` reads the socket directly.
 *
 * @tus/server stops a request that holds an upload's lock when another request of the upload
 * wants it (its lock's `requestRelease` ends the body it reads); it cannot end this one, so the
 * lock tells it here (`release`), and `write` stops reading: what was stored stays, the lock is
 * freed, and the request is answered with its offset and its connection closed.
 */
export class DirectBody {
  released = false;
  private onRelease: (() => void) | undefined;
  /** `onBytes`: told each piece of the body accepted for the upload, as it passes (the metrics' byte count). */
  constructor(
    readonly body: Readable,
    readonly onBytes: (bytes: number) => void = () => undefined,
  ) {}

  /** Another request wants the upload: stop reading the body (idempotent). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease?.();
  }

  /** Runs `fn` when released (at once if already). */
  whenReleased(fn: () => void): void {
    this.onRelease = fn;
    if (this.released) fn();
  }
}

export const directBody = new AsyncLocalStorage<DirectBody>();
