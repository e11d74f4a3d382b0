import { html, type SafeHtml } from "./html.js";

/** `2026-11-27 09:00 UTC`: one unambiguous form on every page (the server does not know the reader's zone). */
export function formatDateTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** A `<time>` element for a timestamp, or a dash. */
export function timeTag(iso: string | null | undefined, empty = "—"): SafeHtml {
  return iso ? html`<time datetime="${iso}">${formatDateTime(iso)}</time>` : html`<span class="muted">${empty}</span>`;
}

/** "1 file", "3 files". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

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

/** Where the pages load FORMAT_BYTES_SCRIPT from. */
export const FORMAT_BYTES_SCRIPT_PATH = "/assets/format-bytes.js";

/** The browser script for the pages' uploaders: `formatBytes` itself, as `globalThis.sfFormatBytes`. */
export const FORMAT_BYTES_SCRIPT = `// Generated from the server's formatBytes (src/web/format.ts): sizes as the pages and sf write them.\nglobalThis.sfFormatBytes = ${formatBytes.toString()};\n`;
