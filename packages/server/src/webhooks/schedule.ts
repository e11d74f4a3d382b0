/**
 * The delay before retry number `attempt` (1 = the first retry), from the configured schedule in
 * seconds, with ±20 % jitter so that many deliveries failing at once do not retry in step.
 * Undefined when the schedule is used up: the delivery has failed for good.
 */
export function retryDelayMs(schedule: readonly number[], attempt: number, random: () => number = Math.random): number | undefined {
  const base = schedule[attempt - 1];
  if (base === undefined) return undefined;
  return Math.round(base * 1000 * (0.8 + 0.4 * random()));
}

/**
 * The default schedule, in seconds: exponential from 10 s, capped at 8 h; 11 retries spread over
 * about 32 hours, so a receiver that is down for a day still gets every event.
 */
export const DEFAULT_RETRY_SCHEDULE = [10, 30, 120, 600, 1800, 3600, 7200, 14_400, 28_800, 28_800, 28_800];
