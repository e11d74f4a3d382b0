import fs from "node:fs";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

/**
 * The contract: `openapi.yaml` at the workspace root (same depth from src/ and dist/), or, in an
 * installed tarball, the copy `pnpm pack` puts beside package.json (scripts/prepack.mjs). The
 * workspace is recognised by its pnpm-workspace.yaml, so a copy left behind by an interrupted
 * pack never shadows the real spec.
 */
export const SPEC_PATH = fileURLToPath(
  fs.existsSync(new URL("../../../pnpm-workspace.yaml", import.meta.url)) ? new URL("../../../openapi.yaml", import.meta.url) : new URL("../openapi.yaml", import.meta.url),
);

let cached: Record<string, unknown> | undefined;

/** The parsed spec. Callers that hand it to a library that mutates must clone it. */
export function loadSpec(): Record<string, unknown> {
  cached ??= YAML.parse(fs.readFileSync(SPEC_PATH, "utf8")) as Record<string, unknown>;
  return cached;
}
