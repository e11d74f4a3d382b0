/**
 * Runs `task` over `items`, at most `concurrency` at a time. The first failure stops the rest:
 * no new item starts, the signal handed to running tasks aborts, and that failure is thrown.
 */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, signal: AbortSignal) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
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
  combined.throwIfAborted();
}
