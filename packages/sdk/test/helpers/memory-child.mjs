// The SDK's side of encryption.test.ts's memory check, in a Node process of its own (so the
// server, which stays in the test's process, does not count): the built SDK (dist/, `pnpm -r
// build`) sends one file encrypted, then downloads and decrypts it, and prints one JSON line:
// its baseline, then after each phase its peak RSS so far (resourceUsage().maxRSS) and the peak
// of its ArrayBuffer bytes, sampled every 20 ms after a full collection (what is held, not what
// waits for the collector). Needs --expose-gc.
//
//   node --expose-gc memory-child.mjs <server url> <token> <file> <output dir>
import { SpeedyFiles } from "../../dist/index.js";

const gc = globalThis.gc;
if (!gc) throw new Error("run with --expose-gc");
const [url, token, file, out] = process.argv.slice(2);
const sf = new SpeedyFiles({ baseUrl: url, token });

// The baseline: the SDK loaded and one request made (its HTTP stack is loaded lazily).
await sf.packages.list();
gc();
const base = process.memoryUsage();
let arrayBuffers = base.arrayBuffers;
const sample = () => {
  gc();
  arrayBuffers = Math.max(arrayBuffers, process.memoryUsage().arrayBuffers);
};
const watch = setInterval(sample, 20);
const peaks = () => {
  sample();
  return { maxRSS: process.resourceUsage().maxRSS * 1024, arrayBuffers };
};

const sent = await sf.send({ files: [file], to: "cfo@acme.com", encrypt: true });
const send = peaks();
// The link's secret and key (test servers mint links on a placeholder origin).
const got = await sf.downloadAll(sent.magic_link.split("/").pop(), out);
const download = peaks();
clearInterval(watch);

console.log(JSON.stringify({ base: { rss: base.rss, arrayBuffers: base.arrayBuffers }, send, download, files: got.files.map((f) => f.name) }));
