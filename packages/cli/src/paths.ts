import path from "node:path";
import { CliError, ExitCode } from "./exit-codes.js";

/**
 * A file name from the server made safe as a path under `dir`. The server and the SDK refuse such
 * names already; the CLI checks again before it looks at or writes anything on disk, so a hostile
 * server cannot make `sf download` touch a file outside `dir`: absolute names, drive letters,
 * `..`, `.` or empty segments, backslashes, control characters, over-long segments.
 */
export function safeJoin(dir: string, name: string): string {
  const segments = name.split("/");
  const bad =
    name.length === 0 ||
    /[\x00-\x1f\x7f\\]/.test(name) ||
    /^[A-Za-z]:/.test(name) ||
    segments.some((s) => s === "" || s === "." || s === ".." || s.length > 255);
  const root = path.resolve(dir);
  const full = path.resolve(root, ...segments);
  const rel = path.relative(root, full);
  if (bad || rel.startsWith("..") || path.isAbsolute(rel)) {
    throw new CliError(`refusing to write a file named ${JSON.stringify(name)}: not a safe relative path`, ExitCode.FAILURE);
  }
  return full;
}
