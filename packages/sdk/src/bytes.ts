const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/**
 * A size for people, in IEC units: `512 B`, `1.5 KiB`, `4.3 GiB` (one decimal below 100), `150 MiB`
 * (none from 100). `{ exact: true }` is for limits people set: the value itself when a unit says it
 * without rounding (`2 GiB`, `1.5 GiB`, `500 MB`, `2000 B`), else the rounded form.
 */
export function formatBytes(n: number, opts: { exact?: boolean } = {}): string {
  if (opts.exact) {
    const exact = exactly(Math.round(n));
    if (exact) return exact;
  }
  let v = Math.round(n);
  if (v < 1024) return `${v} B`;
  let i = 0;
  while (i < UNITS.length - 1 && Number(v.toFixed(v >= 100 ? 0 : 1)) >= 1024) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(Number(v.toFixed(1)) >= 100 ? 0 : 1)} ${UNITS[i]}`;
}

const SI = ["B", "kB", "MB", "GB", "TB", "PB"];

/** `n` in the largest IEC unit (then SI) that says it without rounding (at most one decimal), if any. */
function exactly(n: number): string | undefined {
  for (const [units, base] of [
    [UNITS, 1024],
    [SI, 1000],
  ] as const) {
    for (let i = units.length - 1; i >= 1; i--) {
      const v = n / base ** i;
      if (v >= 1 && Number.isInteger(v * 10)) return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
    }
  }
  return n < 1024 * 1024 ? `${n} B` : undefined;
}

const FACTORS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/**
 * A size as people write it, in bytes: `2GiB`, `1.5 GiB`, `500MB`, `50G`, `1048576` (bytes).
 * IEC units (KiB, MiB, GiB, TiB, and K, M, G, T) are powers of 1024; SI units (kB, MB, GB, TB)
 * powers of 1000, as `ls` and `df` read them. Undefined when it is not a size.
 */
export function parseBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!m) return undefined;
  const factor = FACTORS[(m[2] || "b").toLowerCase()];
  if (factor === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * factor);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
