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
