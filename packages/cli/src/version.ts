/**
 * DO NOT EDIT. Written by scripts/version.mjs from the root package.json's version, the one
 * place that defines it; `pnpm gen:check` fails when this differs.
 */

/** The version of @speedyfiles/cli, printed by `sf --version`: the workspace's one version. */
export const VERSION = "0.1.0";
