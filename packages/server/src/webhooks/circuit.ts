/** The longest cool-off, unless the configured first one is longer still. */
const MAX_COOL_OFF_MS = 3600_000;

/**
 * How long a receiver's circuit stays open the `trip`-th time in a row (1 = the first): the
 * configured cool-off, doubled each time, at most an hour.
 */
export function coolOffMs(baseSeconds: number, trip: number): number {
  const base = baseSeconds * 1000;
  return Math.min(base * 2 ** Math.max(0, trip - 1), Math.max(base, MAX_COOL_OFF_MS));
}

/** The origin (scheme, host and port) of a webhook URL: what its circuit breaker is keyed by. */
export function originOf(url: string): string {
  return new URL(url).origin;
}
