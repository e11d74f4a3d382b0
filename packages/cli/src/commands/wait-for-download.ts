import { formatDuration, parseDuration, type RecipientDownload, type SpeedyFiles } from "@speedyfiles/sdk";
import { CliError, ExitCode, UsageError } from "../exit-codes.js";
import { clean, info, plural, type Io } from "../output.js";

/** `--wait-for-download` without a value waits this long. */
export const DEFAULT_WAIT_MS = 24 * 3_600_000;
const MAX_WAIT_MS = 30 * 24 * 3_600_000;

/**
 * A duration as people write it: `90s`, `45m`, `2h`, `1h30m`, `1d`; a bare number is seconds.
 * Commander hands `true` when the flag came without a value (the default then applies).
 */
export function parseWaitDuration(value: string | true): number {
  if (value === true) return DEFAULT_WAIT_MS;
  const ms = parseDuration(value);
  if (ms === undefined) throw new UsageError(`--wait-for-download takes a duration such as 90s, 30m, 2h or 1d (got "${value}"); write it as --wait-for-download=DURATION`);
  if (ms < 1000) throw new UsageError("--wait-for-download must be at least 1s");
  if (ms > MAX_WAIT_MS) throw new UsageError("--wait-for-download must be at most 30d");
  return ms;
}

/** `86400000` → `24h`, `5400000` → `1h30m`, `90000` → `1m30s`: a wait as the flag writes it. */
export const formatWait = formatDuration;

export interface WaitOutcome {
  complete: boolean;
  downloads: RecipientDownload[];
  pending: string[];
}

/**
 * After a send: waits until every recipient has downloaded every file (one by one or as the
 * archive) through their link, saying so on stderr as it happens.
 */
export async function waitForRecipients(sf: SpeedyFiles, io: Io, packageId: string, ms: number): Promise<WaitOutcome> {
  return sf.packages.waitForDownload(packageId, {
    timeoutMs: ms,
    ...(io.signal ? { signal: io.signal } : {}),
    onEvent: (p) => {
      if (p.type === "waiting" && p.pending.length > 0) {
        info(io, `Waiting up to ${formatWait(ms)} for ${plural(p.pending.length, "recipient")} to download everything…`);
      }
      if (p.type === "downloaded") info(io, `${clean(p.recipient_email)} downloaded everything`);
    },
  });
}

/** Exit code WAIT_TIMEOUT: the time passed before every recipient downloaded (the package stays sent). */
export function waitTimedOut(outcome: WaitOutcome, ms: number): CliError {
  const who = outcome.pending.map(clean).join(", ");
  return new CliError(
    `gave up waiting after ${formatWait(ms)}: ${who} ${outcome.pending.length === 1 ? "has" : "have"} not downloaded everything yet (the package stays sent)`,
    ExitCode.WAIT_TIMEOUT,
  );
}
