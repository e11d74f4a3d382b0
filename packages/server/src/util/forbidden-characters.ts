// The characters no text a person gives the server may hold: titles, names, messages, searches
// (services/text.ts) and file names (services/file-names.ts) share this one set.
//
// C0 and C1 controls, DEL, and the Unicode bidi controls used to disguise text (an extension that
// reads backwards, a sender name that swaps its order): the embeddings and overrides
// (U+202A–U+202E), the isolates (U+2066–U+2069) and the marks (U+200E, U+200F, U+061C).
// PostgreSQL cannot store NUL at all, so without this rule the same input would be stored by
// SQLite and crash the insert on PostgreSQL.

const BIDI = "\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069";

/** Forbidden in one line of text and in file names. */
export const FORBIDDEN_IN_LINE = new RegExp(`[\\u0000-\\u001f\\u007f-\\u009f${BIDI}]`);

/** Forbidden in text that may span lines (a message): the same, but tab, LF and CR are allowed. */
export const FORBIDDEN_IN_MULTILINE = new RegExp(`[\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f${BIDI}]`);
