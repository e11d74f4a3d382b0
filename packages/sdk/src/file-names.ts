// The server's file-name rules, for names only a client can see: the plaintext names inside an
// encrypted package's sealed entries. The server checks every name it can read
// (packages/server/src/services/file-names.ts `checkFileName`); an encrypted name reaches it
// opaque, so whoever wrote the entry (any uploader of an inbound link, or a hostile server) could
// put anything there. This file mirrors the server's rules, in the same order and with the same
// NFC normalisation; change both together.

/** Longest name in UTF-8 bytes (the server's MAX_NAME_BYTES). */
export const MAX_NAME_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;

export type NameCheck = { ok: true; name: string } | { ok: false; reason: string };

// The server's FORBIDDEN_IN_LINE (util/forbidden-characters.ts): C0 and C1 controls, DEL, and
// the bidi controls that disguise a name (an extension that reads backwards).
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const WINDOWS_RESERVED = /^(CON|PRN|AUX|NUL|COM[1-9\u00b9\u00b2\u00b3]|LPT[1-9\u00b9\u00b2\u00b3]|CONIN\$|CONOUT\$) *$/i;
const WINDOWS_FORBIDDEN_CHARS = /[<>:"|?*]/;

/** `name` quoted for a message, every control or bidi character written as `\uXXXX`. */
export function quotedName(name: string): string {
  return JSON.stringify(name).replace(new RegExp(FORBIDDEN.source, "g"), (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const utf8Bytes = (s: string): number => new TextEncoder().encode(s).length;

/**
 * Whether `raw` is a name the server would accept for a file (a relative path with `/` between
 * folders that any recipient's system can save), and its NFC form when it is.
 */
export function checkFileName(raw: string | undefined): NameCheck {
  if (raw === undefined || raw === "") return { ok: false, reason: "The file part needs a file name" };
  const name = raw.normalize("NFC");
  if (utf8Bytes(name) > MAX_NAME_BYTES) return { ok: false, reason: `File name is longer than ${MAX_NAME_BYTES} bytes` };
  if (FORBIDDEN.test(name)) return { ok: false, reason: "File name contains control characters" };
  if (name.includes("\\")) return { ok: false, reason: "File name contains a backslash; use / between folders" };
  if (name.startsWith("/")) return { ok: false, reason: "File name must be a relative path" };
  if (/^[A-Za-z]:/.test(name)) return { ok: false, reason: "File name must not start with a drive letter" };
  for (const seg of name.split("/")) {
    if (seg === "") return { ok: false, reason: "File name has an empty path segment" };
    if (seg === "." || seg === "..") return { ok: false, reason: "File name must not contain . or .. segments" };
    if (utf8Bytes(seg) > MAX_SEGMENT_BYTES) return { ok: false, reason: `A path segment is longer than ${MAX_SEGMENT_BYTES} bytes` };
    if (seg.trim() === "") return { ok: false, reason: "File name has a blank path segment" };
    const forbidden = WINDOWS_FORBIDDEN_CHARS.exec(seg);
    if (forbidden) {
      return {
        ok: false,
        reason: `File name contains "${forbidden[0]}", a character Windows does not allow in file names (< > : " | ? *)`,
      };
    }
    if (WINDOWS_RESERVED.test(seg.split(".")[0]!)) {
      return {
        ok: false,
        reason: `"${seg}" is a device name Windows reserves (CON, PRN, AUX, NUL, COM1–COM9, LPT1–LPT9, with any extension); it could not be saved on Windows`,
      };
    }
    if (/[. ]$/.test(seg)) {
      return { ok: false, reason: `"${seg}" ends in a dot or a space, which Windows drops from file names; remove it` };
    }
  }
  return { ok: true, name };
}

/**
 * The first pair of names (each already through checkFileName) that would land on the same path
 * on some recipient's disk, as indexes into `names`, with why: equal after NFC, equal but for case
 * (Windows and macOS folders ignore case), or a file named like another file's folder (`a` and
 * `a/b`). Undefined when every name has a place of its own.
 */
export function nameCollision(names: readonly string[]): { first: number; second: number; why: string } | undefined {
  const files = new Map<string, number>();
  const folders = new Map<string, number>();
  const key = (s: string) => s.normalize("NFC").toLowerCase();
  for (const [i, name] of names.entries()) {
    const k = key(name);
    const same = files.get(k);
    if (same !== undefined) {
      const other = names[same]!;
      const why =
        other === name
          ? "the same name"
          : other.normalize("NFC") === name.normalize("NFC")
            ? "the same name written with other Unicode code points (equal after NFC)"
            : "names that differ only in case, which Windows and macOS treat as one";
      return { first: same, second: i, why };
    }
    const holder = folders.get(k);
    if (holder !== undefined) return { first: holder, second: i, why: `a file named like the folder ${JSON.stringify(name)} that holds the other` };
    const segs = name.split("/");
    for (let n = 1; n < segs.length; n++) {
      const folder = segs.slice(0, n).join("/");
      const fileThere = files.get(key(folder));
      if (fileThere !== undefined) return { first: fileThere, second: i, why: `a file named like the folder ${JSON.stringify(folder)} that holds the other` };
      if (!folders.has(key(folder))) folders.set(key(folder), i);
    }
    files.set(k, i);
  }
  return undefined;
}
