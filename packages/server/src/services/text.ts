import { ValidationFailed } from "../errors.js";

// C0 and C1 controls, DEL, and the Unicode bidi controls used to disguise text (an extension that
// reads backwards, a sender name that swaps its order). PostgreSQL cannot store NUL at all, so
// without this rule the same input would be stored by SQLite and crash the insert on PostgreSQL.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_LINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
// A message may span lines: tab, LF and CR are allowed there, nothing else.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_MULTILINE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/**
 * Trims a piece of text a person typed (a title, a name, a message, a search) and rejects
 * control and bidi characters with 422 naming the field at `path`. Both databases store what
 * passes, so they answer the same.
 */
export function cleanText(value: string, path: string, opts: { multiline?: boolean } = {}): string {
  const forbidden = opts.multiline ? FORBIDDEN_MULTILINE : FORBIDDEN_LINE;
  if (forbidden.test(value)) {
    const field = path.slice(path.lastIndexOf("/") + 1);
    throw new ValidationFailed(`${field} must not contain control or bidirectional-override characters`, path);
  }
  return value.trim();
}

/** cleanText for an optional field: blank becomes null. */
export function cleanOptionalText(value: string | undefined, path: string, opts: { multiline?: boolean } = {}): string | null {
  return value === undefined ? null : cleanText(value, path, opts) || null;
}
