// How file names compare on a recipient's disk. Shared by the repositories (files.name_key and the
// package's clash lookup) and the encrypted recipient page (web-src/), which meets names the server
// never saw: the same rule in both places.

/**
 * The form in which two names collide on a recipient's disk: Windows and macOS compare names
 * without regard to case or Unicode normalization, so `Report.txt` and `REPORT.txt` (or a
 * composed and a decomposed `é`) are one file there. Stored as `files.name_key`.
 */
export function nameKey(name: string): string {
  return name.normalize("NFC").toLowerCase();
}

/**
 * The names of a list that cannot all sit in one folder on a recipient's disk, each with one name
 * it clashes with: equal keys (the same name, or names equal but for case or normalization), or a
 * file where another needs a folder (`dir` beside `dir/inner.txt`). Every name of a clash is in
 * the map (both `dir` and `dir/inner.txt`).
 */
export function nameClashes(names: readonly string[]): Map<string, string> {
  const byKey = new Map<string, string>();
  const clashes = new Map<string, string>();
  const clash = (a: string, b: string) => {
    if (!clashes.has(a)) clashes.set(a, b);
    if (!clashes.has(b)) clashes.set(b, a);
  };
  for (const name of names) {
    const key = nameKey(name);
    const same = byKey.get(key);
    if (same !== undefined) clash(name, same);
    else byKey.set(key, name);
  }
  for (const [key, name] of byKey) {
    const segments = key.split("/");
    for (let i = 1; i < segments.length; i++) {
      const folder = byKey.get(segments.slice(0, i).join("/"));
      if (folder !== undefined) clash(name, folder);
    }
  }
  return clashes;
}
