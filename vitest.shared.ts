/**
 * The one vitest setup of every package (plain data: the root has no dependencies of its own).
 * `npm test` (scripts/bootstrap.mjs) sets SF_TEST_REPORT to a folder where each package writes a
 * JSON report, summed into the run's closing line.
 */
export function vitestOptions(name: string, include: string[] = ["test/**/*.test.ts"]) {
  const report = process.env.SF_TEST_REPORT;
  return {
    test: {
      include,
      testTimeout: 30_000,
      hookTimeout: 60_000,
      pool: "forks" as const,
      reporters: report ? ["default", "json"] : ["default"],
      ...(report ? { outputFile: { json: `${report}/${name}.json` } } : {}),
    },
  };
}
