import { formatBytes } from "../util/format-bytes.js";
import { html, type SafeHtml } from "./html.js";

export { formatBytes };

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

/** Where the pages load FORMAT_BYTES_SCRIPT from. */
export const FORMAT_BYTES_SCRIPT_PATH = "/assets/format-bytes.js";

/** The browser script for the pages' uploaders: `formatBytes` itself, as `globalThis.sfFormatBytes`. */
export const FORMAT_BYTES_SCRIPT = `// Generated from the server's formatBytes (src/util/format-bytes.ts): sizes as the pages and sf write them.\nglobalThis.sfFormatBytes = ${formatBytes.toString()};\n`;
