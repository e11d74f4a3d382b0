// The documentation's relative links resolve: every link in the README, docs/ and the package
// READMEs to a file that exists and, with a #fragment, to a heading that exists there (GitHub's
// anchors). And the configuration reference lists every variable the server reads. Files only:
// no network, no server.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

function markdownFiles(): string[] {
  const out = ["README.md", "CHANGELOG.md"];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith(".md")) out.push(rel);
    }
  };
  walk("docs");
  for (const p of fs.readdirSync(path.join(ROOT, "packages"))) {
    if (fs.existsSync(path.join(ROOT, "packages", p, "README.md"))) out.push(path.join("packages", p, "README.md"));
  }
  return out.filter((f) => fs.existsSync(path.join(ROOT, f)));
}

/** The text outside fenced code blocks, line by line (links and headings inside code are examples). */
function proseLines(text: string): string[] {
  const lines: string[] = [];
  let fence: string | null = null;
  for (const line of text.split("\n")) {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (m) {
      if (fence === null) fence = m[1]![0]!;
      else if (m[1]![0] === fence) fence = null;
      lines.push("");
      continue;
    }
    lines.push(fence === null ? line : "");
  }
  return lines;
}

/** GitHub's heading anchors: lower case, punctuation dropped (but - and _), spaces to hyphens, -1, -2 … for repeats. */
function headingAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(text)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const plain = m[1]!.replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/<[^>]+>/g, "");
    const slug = plain
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

interface Link {
  file: string;
  line: number;
  target: string;
}

function relativeLinks(file: string, text: string): Link[] {
  const links: Link[] = [];
  proseLines(text).forEach((raw, i) => {
    const line = raw.replace(/`[^`]*`/g, "``");
    for (const m of line.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …
      links.push({ file, line: i + 1, target });
    }
  });
  return links;
}

describe("documentation links", () => {
  const files = markdownFiles();
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = (abs: string) => {
    let a = anchorCache.get(abs);
    if (!a) anchorCache.set(abs, (a = headingAnchors(fs.readFileSync(abs, "utf8"))));
    return a;
  };

  it("finds the documents", () => {
    expect(files).toContain("README.md");
    expect(files).toContain(path.join("docs", "README.md"));
    expect(files.length).toBeGreaterThan(10);
  });

  it("every relative link points at a file that exists, and every #fragment at a heading there", () => {
    const broken: string[] = [];
    for (const file of files) {
      const abs = path.join(ROOT, file);
      for (const l of relativeLinks(file, fs.readFileSync(abs, "utf8"))) {
        const [rawPath, fragment] = l.target.split("#", 2) as [string, string | undefined];
        const targetAbs = rawPath === "" ? abs : path.resolve(path.dirname(abs), decodeURIComponent(rawPath));
        const where = `${l.file}:${l.line}: ${l.target}`;
        if (!targetAbs.startsWith(ROOT + path.sep) && targetAbs !== ROOT) {
          broken.push(`${where} (outside the repository)`);
          continue;
        }
        if (!fs.existsSync(targetAbs)) {
          broken.push(`${where} (no such file)`);
          continue;
        }
        if (fragment !== undefined && targetAbs.endsWith(".md") && !anchorsOf(targetAbs).has(decodeURIComponent(fragment))) {
          broken.push(`${where} (no heading with that anchor)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it("computes GitHub's anchors", () => {
    const a = headingAnchors("# Files in a bucket (`SF_STORAGE=s3`)\n## The recipient's page\n## Notes\n## Notes\n```\n# not a heading\n```\n");
    expect([...a]).toEqual(["files-in-a-bucket-sf_storages3", "the-recipients-page", "notes", "notes-1"]);
  });
});

describe("configuration reference", () => {
  it("docs/configuration.md and .env.example name every variable config.ts (and config-sso.ts) reads", () => {
    const source = ["config.ts", "config-sso.ts"].map((f) => fs.readFileSync(path.join(ROOT, "packages/server/src", f), "utf8")).join("\n");
    const names = [...new Set([...source.matchAll(/"(SF_[A-Z0-9_]+)"/g)].map((m) => m[1]!))];
    expect(names.length).toBeGreaterThan(30);
    const reference = fs.readFileSync(path.join(ROOT, "docs/configuration.md"), "utf8");
    const example = fs.readFileSync(path.join(ROOT, ".env.example"), "utf8");
    expect(names.filter((n) => !reference.includes(`\`${n}\``))).toEqual([]);
    expect(names.filter((n) => !new RegExp(`^#?\\s*${n}=`, "m").test(example))).toEqual([]);
  });
});
