// What the encrypted pages refuse before they trust a package's own description of itself.
// File names follow the server's rules (services/file-names.ts and util/name-key.ts, the same code
// bundled here): the server never sees the names of an encrypted package, so only the browser can
// check them. A ciphertext's age header must end soon: age-encryption buffers a header whatever its
// size and tries every stanza, so a hostile file could fill the browser's memory or keep it busy.
import { checkFileName } from "../src/services/file-names.js";
import { FORBIDDEN_IN_LINE } from "../src/util/forbidden-characters.js";
import { nameClashes } from "../src/util/name-key.js";

/** An age header not complete within this many bytes is refused (a real one is a few hundred). */
export const MAX_HEADER_BYTES = 64 * 1024;
/** An age header with more stanzas (`-> ` lines) than this is refused (ours have one). */
export const MAX_STANZAS = 64;

/**
 * Why each of a package's decrypted names cannot be offered (undefined: it can): the server's rules
 * for one name, then the names that cannot sit beside each other on a disk (equal but for case or
 * normalization, a file named like another's folder).
 */
export function nameRefusals(names) {
  const clashes = nameClashes(names.filter((n) => checkFileName(n).ok));
  return names.map((name) => {
    const check = checkFileName(name);
    if (!check.ok) return check.reason;
    const other = clashes.get(name);
    return other === undefined ? undefined : `it clashes with "${printable(other)}" (a disk cannot hold both)`;
  });
}

/** A name with its control and bidi characters written out (`\u202e`), so none of them works on screen. */
export function printable(name) {
  const all = new RegExp(FORBIDDEN_IN_LINE.source, "g");
  return name.replace(all, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * A pass-through for a ciphertext on its way to age's Decrypter that errors the stream ("header")
 * before passing on any byte that makes the header longer than MAX_HEADER_BYTES or its stanzas more
 * than MAX_STANZAS. Nothing is held: the bytes go on as they come.
 */
export function headerLimit() {
  let seen = 0; // bytes of the header scanned so far
  let line = ""; // the first bytes of the current line (enough to tell "-> " and "--- ")
  let stanzas = 0;
  let done = false;
  return new TransformStream({
    transform(chunk, c) {
      for (let i = 0; !done && i < chunk.length; i++) {
        if (++seen > MAX_HEADER_BYTES) throw new Error("header");
        const b = chunk[i];
        if (b !== 0x0a) {
          if (line.length < 4) line += String.fromCharCode(b);
          continue;
        }
        if (line.startsWith("-> ") && ++stanzas > MAX_STANZAS) throw new Error("header");
        if (line === "--- ") done = true; // the MAC line: the header ends with it
        line = "";
      }
      c.enqueue(chunk);
    },
  });
}
