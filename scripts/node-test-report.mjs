// A node:test reporter that writes the counts in the shape of vitest's JSON report, so the root
// scripts' own tests join the sum on `npm test`'s closing line.
export default async function* report(source) {
  const n = { passed: 0, failed: 0, pending: 0, todo: 0 };
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const d = event.data;
    if (d.details?.type === "suite") continue;
    if (d.todo !== undefined && d.todo !== false) n.todo += 1;
    else if (d.skip !== undefined && d.skip !== false) n.pending += 1;
    else if (event.type === "test:pass") n.passed += 1;
    else n.failed += 1;
  }
  const total = n.passed + n.failed + n.pending + n.todo;
  yield `${JSON.stringify({ numTotalTests: total, numPassedTests: n.passed, numFailedTests: n.failed, numPendingTests: n.pending, numTodoTests: n.todo })}\n`;
}
