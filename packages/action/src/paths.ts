import fs from "node:fs/promises";
import path from "node:path";
import { InputError } from "./inputs.js";

/**
 * The `path` input as plain paths for the SDK's `expandPaths`: a path without glob characters
 * stays as it is (a folder is sent whole, under its own name); a glob (`*`, `?`, `**`, `[…]`)
 * becomes the files and folders it matches, sorted. A glob matching nothing is an error, as a
 * missing path is: a release step that sends nothing should fail, not pass quietly.
 */
export async function resolvePaths(patterns: string[], cwd: string): Promise<string[]> {
  const out: string[] = [];
  for (const p of patterns) {
    if (!/[*?[]/.test(p)) {
      out.push(p);
      continue;
    }
    const matches = await glob(p, cwd);
    if (matches.length === 0) throw new InputError(`path: nothing matches ${p}`);
    out.push(...matches);
  }
  return [...new Set(out)];
}

/** The entries matching `pattern` (relative to `cwd`, or absolute), in a stable order. */
export async function glob(pattern: string, cwd: string): Promise<string[]> {
  const abs = path.isAbsolute(pattern);
  const segments = pattern.split("/").filter((s, i) => s !== "" || i === 0);
  // The literal directory the pattern starts from.
  let i = 0;
  while (i < segments.length - 1 && !/[*?[]/.test(segments[i]!)) i++;
  const base = segments.slice(0, i).join("/") || (abs ? "/" : ".");
  const rest = segments.slice(i);
  const found: string[] = [];
  await walk(path.resolve(cwd, base), base === "." ? "" : base, rest, found);
  return found.sort();
}

async function walk(dir: string, shown: string, parts: string[], found: string[]): Promise<void> {
  const [head, ...tail] = parts;
  if (head === undefined) return;
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  const join = (name: string) => (shown ? `${shown.replace(/\/$/, "")}/${name}` : name);
  if (head === "**") {
    // Zero directories…
    if (tail.length > 0) await walk(dir, shown, tail, found);
    // …or one more, then `**` again. Hidden folders only when asked for by name.
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith(".")) await walk(path.join(dir, e.name), join(e.name), parts, found);
    if (tail.length === 0) for (const e of entries) if (!e.name.startsWith(".")) found.push(join(e.name));
    return;
  }
  const re = segmentRegExp(head);
  for (const e of entries) {
    if (!re.test(e.name)) continue;
    // `*` does not match dot files (as in a shell), unless the pattern starts with a dot.
    if (e.name.startsWith(".") && !head.startsWith(".")) continue;
    if (tail.length === 0) found.push(join(e.name));
    else if (e.isDirectory()) await walk(path.join(dir, e.name), join(e.name), tail, found);
  }
}

function segmentRegExp(seg: string): RegExp {
  let re = "";
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = seg.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        const body = seg
          .slice(i + 1, end)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\");
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}
