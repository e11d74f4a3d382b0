/**
 * A byte count as `sf` writes it: binary (IEC) units, one decimal below 100 (`1.5 KiB`,
 * `10.0 GiB`, `512 MiB`), whole bytes below 1 KiB. The one formatter of the server: pages, emails,
 * and (served as /assets/format-bytes.js) the upload pages' scripts. Self-contained on purpose:
 * its source text is that script.
 */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = Math.round(n);
  if (v < 1024) return `${v} B`;
  // Round first, then decide the unit: 1023.97 KiB is written 1.0 MiB, never "1024 KiB".
  while (i < units.length - 1 && Number(v.toFixed(v >= 100 ? 0 : 1)) >= 1024) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(Number(v.toFixed(1)) >= 100 ? 0 : 1)} ${units[i]}`;
}
