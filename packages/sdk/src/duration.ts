const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration as people write it (`90s`, `45m`, `2h`, `1h30m`, `1d`, `500ms`; a bare number is
 * seconds) in milliseconds, or undefined when it is not one. Callers add their own bounds and
 * words (`sf send --wait-for-download`, the GitHub Action's `wait-for-download`).
 */
export function parseDuration(text: string): number | undefined {
  const v = text.trim().toLowerCase();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!/^(\d+(ms|s|m|h|d))+$/.test(v)) return undefined;
  let ms = 0;
  for (const [, n, unit] of v.matchAll(/(\d+)(ms|s|m|h|d)/g)) ms += Number(n) * UNIT_MS[unit!]!;
  return ms;
}

/** `86400000` → `24h`, `5400000` → `1h30m`, `90000` → `1m30s`: a duration as `parseDuration` reads it. */
export function formatDuration(ms: number): string {
  let left = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    if (left >= size) parts.push(`${Math.floor(left / size)}${unit}`);
    left %= size;
  }
  return parts.join("") || "0s";
}
