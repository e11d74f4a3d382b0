import { AbortError } from "../errors.js";

/**
 * Runs `task` over `items`, at most `concurrency` at a time (at least one). The first failure
 * stops the rest: no new item starts, the signal handed to running tasks aborts, and that failure
 * is thrown. `signal` does the same from outside: no new item starts once it is aborted, and if
 * no task failed, an AbortError is thrown once the running ones have settled.
 *
 * ```ts
 * await runConcurrently(files, 4, (f, signal) => sf.links.upload(link, f.path, { name: f.name, signal }), ac.signal);
 * ```
 */
export async function runConcurrently<T>(items: readonly T[], concurrency: number, task: (item: T, signal: AbortSignal) => Promise<unknown>, signal?: AbortSignal): Promise<void> {
  const stop = new AbortController();
  const combined = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const queue = [...items];
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (queue.length > 0 && failure === undefined && !combined.aborted) {
      const item = queue.shift()!;
      try {
        await task(item, combined);
      } catch (err) {
        failure ??= { err };
        stop.abort(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (failure) throw failure.err;
  if (signal?.aborted) throw new AbortError("aborted", { cause: signal.reason });
}

/** Sums per-file progress of a pool into one running total. */
export class ProgressTotal {
  private readonly inFlight = new Map<string, number>();
  private done = 0;

  set(name: string, bytes: number): number {
    this.inFlight.set(name, bytes);
    return this.total();
  }

  finish(name: string, bytes: number): number {
    this.inFlight.delete(name);
    this.done += bytes;
    return this.total();
  }

  total(): number {
    let n = this.done;
    for (const v of this.inFlight.values()) n += v;
    return n;
  }
}
