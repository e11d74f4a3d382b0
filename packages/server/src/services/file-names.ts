import { FORBIDDEN_IN_LINE } from "../util/forbidden-characters.js";

/**
 * File names are metadata, never a file-system path. A name may be a relative path
 * (`sub/dir/a.txt`, as `sf send ./dir` produces) but it is rejected, not silently changed, when it
 * could mean something else on a recipient's disk: absolute paths, `.`/`..` segments, empty
 * segments, backslashes, drive letters, NUL and control characters. Checked after busboy has
 * decoded RFC 2231 / percent-encoded names, so encoded traversal is caught too.
 *
 * A name must also be extractable on the recipient's machine, whatever it runs: Windows refuses
 * (or silently turns into a device) reserved device names (`CON`, `nul.txt`, `Com1.tar.gz`), the
 * characters `< > : " | ? *`, and segments ending in a dot or a space (Explorer strips them, so
 * `report.` and `report` would collide). Such names are refused too, never renamed: the sender
 * learns at once and chooses the new name. Rules that compare names with each other (a file
 * beside a folder of the same name, names equal but for case) belong where the package's other
 * names are known, not here.
 */
export const MAX_NAME_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;
// Not Buffer: the encrypted recipient page checks decrypted names with this same function.
const utf8 = new TextEncoder();
const byteLength = (s: string) => utf8.encode(s).length;

export type NameCheck = { ok: true; name: string } | { ok: false; reason: string };

// The characters no text may hold (util/forbidden-characters.ts): controls and bidi controls.
const FORBIDDEN = FORBIDDEN_IN_LINE;

// Device names per Microsoft's "Naming Files, Paths, and Namespaces", including the superscript
// digits it lists and the console pseudo-files; reserved with any extension (`NUL.tar.gz` is NUL)
// and with spaces before it (`NUL .txt`).
const WINDOWS_RESERVED = /^(CON|PRN|AUX|NUL|COM[1-9\u00b9\u00b2\u00b3]|LPT[1-9\u00b9\u00b2\u00b3]|CONIN\$|CONOUT\$) *$/i;
const WINDOWS_FORBIDDEN_CHARS = /[<>:"|?*]/;

export function checkFileName(raw: string | undefined): NameCheck {
  if (raw === undefined || raw === "") return { ok: false, reason: "The file part needs a file name" };
  const name = raw.normalize("NFC");
  if (byteLength(name) > MAX_NAME_BYTES) return { ok: false, reason: `File name is longer than ${MAX_NAME_BYTES} bytes` };
  if (FORBIDDEN.test(name)) return { ok: false, reason: "File name contains control characters" };
  if (name.includes("\\")) return { ok: false, reason: "File name contains a backslash; use / between folders" };
  if (name.startsWith("/")) return { ok: false, reason: "File name must be a relative path" };
  if (/^[A-Za-z]:/.test(name)) return { ok: false, reason: "File name must not start with a drive letter" };
  for (const seg of name.split("/")) {
    if (seg === "") return { ok: false, reason: "File name has an empty path segment" };
    if (seg === "." || seg === "..") return { ok: false, reason: "File name must not contain . or .. segments" };
    if (byteLength(seg) > MAX_SEGMENT_BYTES) return { ok: false, reason: `A path segment is longer than ${MAX_SEGMENT_BYTES} bytes` };
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

/** The last segment: what a browser saves the file as. */
export function baseName(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}

const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/** The client's declared type when it is a well-formed `type/subtype`, else octet-stream. */
export function normaliseContentType(raw: string | undefined): string {
  const t = (raw ?? "").split(";")[0]!.trim().toLowerCase();
  return MIME.test(t) ? t : "application/octet-stream";
}

/** RFC 6266 / 5987 `Content-Disposition: attachment` with an ASCII fallback and `filename*`. */
export function attachmentDisposition(name: string): string {
  const base = baseName(name);
  const fallback = base.replace(/[^\x20-\x7e]|["\\%;]/g, "_") || "download";
  const encoded = encodeURIComponent(base).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

/** A safe, readable zip file name from a package title. */
export function archiveName(title: string): string {
  const slug = title
    .normalize("NFKD")
    .replace(/[^\w\s.-]/g, "")
    .trim()
    .replace(/\s+/g, "-")
    .slice(0, 80);
  return `${slug || "speedyfiles"}.zip`;
}
