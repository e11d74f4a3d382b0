import { defineConfig } from "vitest/config";

// `npm test` (scripts/bootstrap.mjs) sets SF_TEST_REPORT to collect counts across packages.
const report = process.env.SF_TEST_REPORT;

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: report ? ["default", "json"] : ["default"],
    ...(report ? { outputFile: { json: `${report}/cli.json` } } : {}),
  },
});
