/**
 * DO NOT EDIT. Written by scripts/version.mjs from the root package.json's version, the one
 * place that defines it; `pnpm gen:check` fails when this differs.
 */

/** The version of @speedyfiles/sdk: the workspace's one version. */
export const VERSION = "0.1.0";

/** `speedyfiles-sdk/0.1.0 node/24.0.0`: sent with every request. */
export const USER_AGENT = `speedyfiles-sdk/${VERSION} node/${process.versions.node}`;
