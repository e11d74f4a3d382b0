import type { components } from "../generated/api.js";
import { listEvents, listEventsAfter } from "../db/events.js";
import { ownedPackage, toPackageEvent } from "./packages.js";
import { EVENT_POLL_MS, nextWake, takeWaiterSlot } from "../events/waiters.js";
import type { Principal, Services } from "./context.js";

type PackageEvent = components["schemas"]["PackageEvent"];

export interface EventFeedInput {
  /** Only events after this cursor (an event's `seq`). */
  after?: string | undefined;
  /** Seconds to wait for one when none is after the cursor (0: answer at once). */
  wait?: number | undefined;
  /** Aborts the wait (the client went away). */
  signal: AbortSignal;
}

/**
 * `GET /packages/{id}/events`: the audit trail, or with `after` only what followed the cursor;
 * with `wait`, held open until something does (woken at once by this process's events, and by a
 * poll of the database every EVENT_POLL_MS for other processes'). The wait is real time, not the
 * services' clock: it is how long a connection stays open, not a decision about the package.
 */
export async function listPackageEvents(s: Services, user: Principal, id: string, input: EventFeedInput): Promise<{ events: PackageEvent[]; next_cursor: string }> {
  await ownedPackage(s, user, id, "package.read");
  const after = input.after === undefined ? undefined : Number(input.after);
  const read = () => (after === undefined ? listEvents(s.db, id) : listEventsAfter(s.db, id, after));
  let rows = await read();
  const waitMs = (input.wait ?? 0) * 1000;
  if (rows.length === 0 && waitMs > 0 && !input.signal.aborted) {
    const slot = takeWaiterSlot(user.userId);
    try {
      const deadline = Date.now() + waitMs;
      while (rows.length === 0 && !input.signal.aborted) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        await nextWake(id, Math.min(EVENT_POLL_MS, left), input.signal);
        if (input.signal.aborted) break;
        rows = await read();
      }
    } finally {
      slot.release();
    }
  }
  const newest = rows.reduce((n, e) => Math.max(n, e.seq), after ?? 0);
  return { events: rows.map(toPackageEvent), next_cursor: String(newest) };
}
