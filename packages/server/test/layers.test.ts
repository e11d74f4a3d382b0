import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

// The server's layers, as docs/architecture.md ("Layers") writes them, checked on every source
// file: which folder may import which, and that only db/ builds SQL. Fast (no server, no database):
// it parses the files with the TypeScript compiler and reads their import declarations.

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

/** A source file's folder under src/ ("routes", "db", …), or its name for a top-level file. */
const layerOf = (rel: string) => rel.split("/")[0]!.replace(/\.ts$/, "");

/** Importer folder → folders it must never import (type-only imports included). */
const FORBIDDEN: Record<string, string[]> = {
  routes: ["db", "storage", "jobs", "webhooks", "events", "mail", "sso"],
  services: ["http", "routes", "web", "jobs", "app", "server", "main"],
  policies: ["http", "routes", "web", "services", "storage", "mail", "jobs", "events", "webhooks"],
  events: ["http", "routes", "web", "jobs"],
  jobs: ["http", "routes", "web"],
  http: ["routes", "web", "jobs"],
  storage: ["http", "routes", "web", "services", "jobs", "events", "mail", "webhooks"],
  webhooks: ["http", "routes", "web", "services", "jobs", "events", "storage", "mail"],
  mail: ["http", "routes", "web", "services", "db", "jobs", "events", "storage", "webhooks"],
  web: ["services", "db", "http", "routes", "storage", "jobs", "events", "mail", "webhooks", "policies"],
  db: ["http", "routes", "web", "services", "storage", "jobs", "events", "mail", "webhooks", "policies"],
  security: ["http", "routes", "web", "services", "db", "storage", "jobs", "events", "mail", "webhooks", "policies"],
  metrics: ["http", "routes", "web", "services", "jobs", "events", "mail", "webhooks", "storage", "policies"],
  backup: ["http", "routes", "web", "jobs"],
  util: ["http", "routes", "web", "services", "db", "storage", "jobs", "events", "mail", "webhooks", "policies", "security"],
  // The OpenID provider's protocol (single sign-on): no state of ours, no layer above it.
  sso: ["http", "routes", "web", "services", "db", "storage", "jobs", "events", "mail", "webhooks", "policies", "security"],
};

/** Single files with a rule of their own. */
const FORBIDDEN_FILES: Record<string, RegExp[]> = {
  // The operations' rate limits answer a page when limited; the pages are injected (app.ts).
  "routes/middleware.ts": [/^routes\/web[^/]*\.ts$/, /^web\//],
};

/** Query building: a table call `db("…")`, `.raw(`, a where/join/orderBy, a pool connection, the schema builder. */
const SQL_PATTERNS: RegExp[] = [
  /\b(?:db|trx|knex|tx|this\.db)\s*\(\s*["'`]/,
  /\.raw\s*\(/,
  /\.(?:where|whereIn|whereNull|whereNot|orWhere|andWhere|orderBy|leftJoin|innerJoin|groupBy|onConflict|forUpdate|skipLocked)\s*\(/,
  /\.client\.(?:acquireConnection|releaseConnection)\b/,
  /\.schema\./,
];

interface Import {
  spec: string;
  typeOnly: boolean;
  line: number;
}

function sourceFiles(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(full, base));
    else if (e.name.endsWith(".ts")) out.push(path.relative(base, full).split(path.sep).join("/"));
  }
  return out.sort();
}

function importsOf(file: string, text: string): Import[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Import[] = [];
  const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart()).line + 1;
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      // Type-only: `import type …`, or every named binding marked `type` and no default import.
      const typeOnly =
        !!c &&
        (c.isTypeOnly ||
          (!c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly)));
      out.push({ spec: n.moduleSpecifier.text, typeOnly, line: lineOf(n) });
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      out.push({ spec: n.moduleSpecifier.text, typeOnly: n.isTypeOnly, line: lineOf(n) });
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      out.push({ spec: n.arguments[0].text, typeOnly: false, line: lineOf(n) });
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      out.push({ spec: n.argument.literal.text, typeOnly: true, line: lineOf(n) });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** The problems of one file (its path relative to src/), as "file:line: why". */
function layerViolations(rel: string, text: string): string[] {
  if (rel.startsWith("generated/")) return [];
  const problems: string[] = [];
  const from = layerOf(rel);
  for (const imp of importsOf(rel, text)) {
    if (imp.spec === "knex" && !imp.typeOnly && from !== "db") {
      problems.push(`${rel}:${imp.line}: imports knex values outside db/ (only the Knex type may be imported; SQL lives in db/)`);
      continue;
    }
    if (!imp.spec.startsWith(".")) continue;
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), imp.spec)).replace(/\.js$/, ".ts");
    const to = layerOf(target);
    if (to !== from && FORBIDDEN[from]?.includes(to)) problems.push(`${rel}:${imp.line}: ${from}/ must not import ${to}/ (${imp.spec})`);
    for (const re of FORBIDDEN_FILES[rel] ?? []) if (re.test(target)) problems.push(`${rel}:${imp.line}: must not import ${target} (inject it)`);
  }
  if (from !== "db") {
    text.split("\n").forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, "");
      if (/^\s*(\*|\/\*)/.test(code)) return;
      for (const re of SQL_PATTERNS) if (re.test(code)) problems.push(`${rel}:${i + 1}: builds SQL outside db/ (${re.source}): ${line.trim()}`);
    });
  }
  return problems;
}

describe("the server's layers", () => {
  const files = sourceFiles(SRC);

  it("finds the source files", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files).toContain("routes/middleware.ts");
  });

  it("hold: no import across a forbidden boundary, no SQL outside db/", () => {
    const problems = files.flatMap((rel) => layerViolations(rel, fs.readFileSync(path.join(SRC, rel), "utf8")));
    expect(problems).toEqual([]);
  });

  it("keep each source file to one idea: none over 400 lines (generated code aside)", () => {
    const long = files
      .filter((rel) => !rel.startsWith("generated/"))
      .map((rel) => [rel, fs.readFileSync(path.join(SRC, rel), "utf8").split("\n").length] as const)
      .filter(([, n]) => n > 400);
    expect(long).toEqual([]);
  });

  it("would catch a violation (the checker itself)", () => {
    expect(layerViolations("services/x.ts", `import { a } from "../http/upload.js";`)).toHaveLength(1);
    expect(layerViolations("services/x.ts", `import type { A } from "../routes/web.js";`)).toHaveLength(1);
    expect(layerViolations("web/x-page.ts", `import type { A } from "../services/links.js";`)).toHaveLength(1);
    expect(layerViolations("mail/x.ts", `import {\n  escapeHtml,\n} from "../web/html.js";`)).toHaveLength(1);
    expect(layerViolations("routes/middleware.ts", `import { sendTooManyPage } from "./web.js";`)).toHaveLength(1);
    expect(layerViolations("http/x.ts", `import knexFactory from "knex";`)).toHaveLength(1);
    expect(layerViolations("http/x.ts", `import type { Knex } from "knex";`)).toEqual([]);
    expect(layerViolations("storage/x.ts", `const n = await db("files").count();`)).toHaveLength(1);
    expect(layerViolations("jobs/x.ts", `await s.db.raw("select 1");`)).toHaveLength(1);
    expect(layerViolations("db/files.ts", `await db("files").where({ id }).first();`)).toEqual([]);
    expect(layerViolations("services/x.ts", `import { findFile } from "../db/files.js";`)).toEqual([]);
  });
});
