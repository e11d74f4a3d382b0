import { ApiError } from "../errors.js";

/**
 * Requests waiting for a package's next event (`GET /packages/{id}/events?wait=`). An event
 * recorded by this process wakes its package's waiters as soon as its transaction commits; one
 * recorded by another server process sharing the database is seen by the waiters' short poll.
 * The registry is per process, as the requests it holds are.
 */

/** How often a waiter looks in the database for events written by other processes. */
export const EVENT_POLL_MS = 500;

/** Waiting requests one user may hold at once (in one process): more answer 429. */
export const MAX_WAITERS_PER_USER = 20;

const listeners = new Map<string, Set<() => void>>();
const waitersPerUser = new Map<string, number>();

/** Wakes the requests waiting on `packageId` (call after the event's transaction committed). */
export function notifyPackageEvent(packageId: string): void {
  for (const wake of listeners.get(packageId) ?? []) wake();
}

/** A place among the user's waiting requests; `release` gives it back. 429 `too_many_waiters` when none is left. */
export function takeWaiterSlot(userId: string): { release: () => void } {
  const n = waitersPerUser.get(userId) ?? 0;
  if (n >= MAX_WAITERS_PER_USER) {
    throw new ApiError(429, "too_many_waiters", `At most ${MAX_WAITERS_PER_USER} requests may wait for events at once`, { headers: { "Retry-After": "1" } });
  }
  waitersPerUser.set(userId, n + 1);
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      const left = (waitersPerUser.get(userId) ?? 1) - 1;
      if (left <= 0) waitersPerUser.delete(userId);
      else waitersPerUser.set(userId, left);
    },
  };
}

/**
 * Resolves when an event of `packageId` is recorded in this process, after `ms` (the poll), or
 * when `signal` aborts, whichever comes first. Never rejects; leaves nothing registered behind.
 */
export function nextWake(packageId: string, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    let set = listeners.get(packageId);
    if (!set) listeners.set(packageId, (set = new Set()));
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      set.delete(done);
      if (set.size === 0 && listeners.get(packageId) === set) listeners.delete(packageId);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (signal.aborted) return done();
    signal.addEventListener("abort", done, { once: true });
    set.add(done);
  });
}

/** How many requests wait on `packageId` in this process (for tests). */
export function waitingOn(packageId: string): number {
  return listeners.get(packageId)?.size ?? 0;
}
