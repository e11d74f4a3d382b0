/**
 * A wake-up call between this process's services and a background job: `emit` calls `wake` after
 * the commit of a transaction that queued work, and the job (listening with `on`) starts a pass
 * at once instead of at its next poll. Other processes find the work by polling.
 */
export class Wakeup {
  private readonly listeners = new Set<() => void>();

  /** Listens; returns the function that stops listening. */
  on(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  wake(): void {
    for (const fn of this.listeners) fn();
  }
}
