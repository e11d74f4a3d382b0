// The SDK's side of encryption.test.ts's endless-header check, in a Node process of its own (so
// the server, which stays in the test's process, and its collector do not count): the built SDK
// (dist/, `pnpm -r build`) downloads one link whose file's age header never ends, and prints one
// JSON line: its RSS before (after a full collection), its peak RSS during the download (sampled
// every 5 ms and at the end), and the error the download failed with.
//
//   node --expose-gc endless-header-child.mjs <server url> <token> <link#identity> <output dir>
import { SpeedyFiles } from "../../dist/index.js";

const gc = globalThis.gc;
if (!gc) throw new Error("run with --expose-gc");
const [url, token, link, out] = process.argv.slice(2);
const sf = new SpeedyFiles({ baseUrl: url, token });

// The baseline: the SDK loaded and one request made (its HTTP stack is loaded lazily).
await sf.packages.list();
gc();
const base = process.memoryUsage().rss;
let peak = base;
const sample = () => {
  peak = Math.max(peak, process.memoryUsage().rss);
};
const watch = setInterval(sample, 5);
const err = await sf.downloadAll(link, out).then(
  () => undefined,
  (e) => e,
);
clearInterval(watch);
sample();
console.log(JSON.stringify({ base, peak, error: err && { name: err.name, code: err.code, file: err.file, message: err.message } }));
