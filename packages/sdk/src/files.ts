import fs from "node:fs/promises";
import path from "node:path";
import { SpeedyFilesError } from "./errors.js";

export interface LocalFile {
  /** Where it is on disk. */
  path: string;
  /** The name it gets in the package (a relative path with `/` for files found in a directory). */
  name: string;
  size: number;
}

/**
 * Expands files and directories into the list to upload. A directory `reports/` yields
 * `reports/q1.pdf`, `reports/2024/q4.pdf` …, keeping its structure under its own name. Hidden
 * files are included (they are part of what was asked for). Symbolic links to files are followed;
 * links to directories are skipped, so a link cycle cannot make the walk endless.
 */
export async function expandPaths(inputs: string[]): Promise<LocalFile[]> {
  const out: LocalFile[] = [];
  for (const input of inputs) {
    let st;
    try {
      st = await fs.stat(input);
    } catch (err) {
      throw new SpeedyFilesError(`cannot read ${input}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    if (st.isFile()) {
      out.push({ path: input, name: path.basename(path.resolve(input)), size: st.size });
    } else if (st.isDirectory()) {
      const root = path.resolve(input);
      await walk(root, path.basename(root), out);
    } else {
      throw new SpeedyFilesError(`${input} is neither a file nor a directory`);
    }
  }
  const seen = new Set<string>();
  for (const f of out) {
    if (seen.has(f.name)) throw new SpeedyFilesError(`two files would both be named "${f.name}" in the package`);
    seen.add(f.name);
  }
  return out;
}

async function walk(dir: string, prefix: string, out: LocalFile[]): Promise<void> {
  const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const full = path.join(dir, e.name);
    const name = `${prefix}/${e.name}`;
    if (e.isDirectory()) {
      await walk(full, name, out);
    } else if (e.isFile()) {
      out.push({ path: full, name, size: (await fs.stat(full)).size });
    } else if (e.isSymbolicLink()) {
      const target = await fs.stat(full).catch(() => undefined);
      if (target?.isFile()) out.push({ path: full, name, size: target.size });
    }
  }
}

/**
 * A file name from a server (a package's `name`, which may hold `/`) made safe as a path under
 * `dir`, for writing downloads: throws for anything that could land outside `dir` or is not a
 * plain relative path (absolute names, drive letters, `..`, `.` or empty segments, backslashes,
 * control characters, segments over 255 characters). The server refuses such names already;
 * checking again means a hostile or broken server cannot make a client write elsewhere.
 *
 * ```ts
 * safeFilePath("out", "reports/q4.pdf"); // → /abs/out/reports/q4.pdf
 * safeFilePath("out", "../.bashrc");     // throws SpeedyFilesError
 * ```
 */
export function safeFilePath(dir: string, name: string): string {
  const segments = name.split("/");
  const bad = name.length === 0 || /[\x00-\x1f\x7f\\]/.test(name) || /^[A-Za-z]:/.test(name) || segments.some((s) => s === "" || s === "." || s === ".." || s.length > 255);
  const root = path.resolve(dir);
  const full = path.resolve(root, ...segments);
  const rel = path.relative(root, full);
  if (bad || rel.startsWith("..") || path.isAbsolute(rel)) {
    throw new SpeedyFilesError(`refusing to write a file named ${JSON.stringify(name)}: not a safe relative path`);
  }
  return full;
}
