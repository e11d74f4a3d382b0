/** This package's version (test/unit.test.ts checks it against package.json). */
export const VERSION = "0.1.0";

/** `speedyfiles-sdk/0.1.0 node/20.19.0`: sent with every request. */
export const USER_AGENT = `speedyfiles-sdk/${VERSION} node/${process.versions.node}`;
