import { ValidationFailed } from "../errors.js";
import { FORBIDDEN_IN_LINE, FORBIDDEN_IN_MULTILINE } from "../util/forbidden-characters.js";

/**
 * Trims a piece of text a person typed (a title, a name, a message, a search) and rejects
 * control and bidi characters with 422 naming the field at `path`. Both databases store what
 * passes, so they answer the same.
 */
export function cleanText(value: string, path: string, opts: { multiline?: boolean } = {}): string {
  const forbidden = opts.multiline ? FORBIDDEN_IN_MULTILINE : FORBIDDEN_IN_LINE;
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
