/**
 * `sf send` benchmark (NOT a test; `pnpm bench` from the repository root runs it after the
 * server's). In one run, against one real server (a child process, SQLite, temp data dir):
 *
 *   big:   one file of SF_BENCH_BYTES (default 1 GiB): `sf send FILE --json` vs `curl -F file=@FILE`
 *          to POST /api/v1/packages/{id}/files of a draft. Target: sf ≥ 0.9× curl's throughput.
 *   encrypted: the same file, `sf send FILE --encrypt --json` (the plaintext hashed, then
 *          encrypted with age on its way out) vs the same curl. Target: ≥ 0.5× curl (goal 0.8×).
 *   small: SF_BENCH_SMALL_FILES files (default 1,000) of SF_BENCH_SMALL_BYTES (default 10 KiB):
 *          `sf send DIR --json` vs a sequential shell loop of `curl -F`, one per file, into one
 *          draft. Target: sf ≥ 4× faster (goal 6×).
 *
 * sf's time is the whole process (start-up, create, uploads, finalize, exit); curl's is the
 * uploads only (the draft is made beforehand), so the comparison leans towards curl.
 * Rounds alternate the order. Environment: SF_BENCH_BYTES, SF_BENCH_SMALL_FILES,
 * SF_BENCH_SMALL_BYTES, SF_BENCH_ROUNDS (default 3), SF_BENCH_TMP (parent of the temp dir).
 */
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SpeedyFiles } from "@speedyfiles/sdk";
import { childEnv, envInt, f1, GiB, log, makeFile, median, MiB, report, ROUNDS, run, runBench, startOurs, tempDir } from "../../server/bench/lib.js";

const CLI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SDK_DIR = path.resolve(CLI_DIR, "../sdk");
const BIN = path.join(CLI_DIR, "dist/bin.js");
const BYTES = envInt("SF_BENCH_BYTES", 1024 * MiB);
const SMALL_FILES = envInt("SF_BENCH_SMALL_FILES", 1000);
const SMALL_BYTES = envInt("SF_BENCH_SMALL_BYTES", 10 * 1024);
const BIG_TARGET = 0.9;
const SMALL_TARGET = 4;
const ENC_TARGET = 0.5;

/** tsc for the SDK and the CLI, so the binary measured is the current source. */
function build(): void {
  const tsc = path.join(CLI_DIR, "node_modules/typescript/bin/tsc");
  for (const dir of [SDK_DIR, CLI_DIR]) {
    const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`build of ${dir} failed:\n${r.stdout}${r.stderr}`);
  }
}

/** Runs a command, returns wall time in ms; fails on a non-zero exit. */
async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string }> {
  const r = await run(cmd, args, { env });
  if (r.code !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(" ")}… exited ${r.code}: ${r.stderr.slice(-4000)}`);
  return r;
}

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

async function main(): Promise<void> {
  const tmpRoot = await tempDir("sf-cli-bench-");
  const smallDir = path.join(tmpRoot, "small");
  const bigFile = path.join(tmpRoot, "big.bin");
  await fsp.mkdir(smallDir);
  log(`sf send bench: big ${f1(BYTES / MiB)} MiB, small ${SMALL_FILES} × ${SMALL_BYTES} B, ${ROUNDS} rounds, temp ${tmpRoot}`);

  let t = Date.now();
  build();
  log(`  built sdk + cli in ${Date.now() - t} ms`);
  t = Date.now();
  await makeFile(bigFile, BYTES);
  for (let i = 0; i < SMALL_FILES; i++) await fsp.writeFile(path.join(smallDir, `f${String(i).padStart(5, "0")}.bin`), crypto.randomBytes(SMALL_BYTES));
  log(`  generated the files in ${Date.now() - t} ms`);

  const server = await startOurs("ours (sf send)", { SF_MAX_FILES_PER_PACKAGE: String(Math.max(10_000, SMALL_FILES)) });
  const { url, token } = server;
  const sdk = new SpeedyFiles({ baseUrl: url, token });
  log(`  server ${url} (pid ${server.pid})`);
  const env = childEnv({ SF_URL: url, SF_TOKEN: token, HOME: tmpRoot, NO_COLOR: "1" });

  const draft = () => sdk.packages.create({ title: "curl bench", recipient_email: "r@example.com", direction: "outbound", ttl_days: 1 });
  const curlArgs = (id: string, file: string) => [
    "-sS",
    "--fail",
    "-o",
    "/dev/null",
    "-H",
    `Authorization: Bearer ${token}`,
    "-F",
    `file=@${file}`,
    `${url}/api/v1/packages/${id}/files`,
  ];

  const sfBig = async () => {
    const r = await timed(process.execPath, [BIN, "send", bigFile, "--to", "r@example.com", "--json"], env);
    await sdk.packages.delete((JSON.parse(r.stdout) as { id: string }).id);
    return r.ms;
  };
  const sfBigEnc = async () => {
    const r = await timed(process.execPath, [BIN, "send", bigFile, "--to", "r@example.com", "--encrypt", "--notify", "none", "--json"], env);
    await sdk.packages.delete((JSON.parse(r.stdout) as { id: string }).id);
    return r.ms;
  };
  const curlBig = async () => {
    const pkg = await draft();
    const r = await timed("curl", curlArgs(pkg.id, bigFile), env);
    await sdk.packages.delete(pkg.id);
    return r.ms;
  };
  const sfSmall = async () => {
    const r = await timed(process.execPath, [BIN, "send", smallDir, "--to", "r@example.com", "--json"], env);
    const out = JSON.parse(r.stdout) as { id: string; files: unknown[] };
    if (out.files.length !== SMALL_FILES) throw new Error(`sf sent ${out.files.length} files`);
    await sdk.packages.delete(out.id);
    return r.ms;
  };
  const curlSmall = async () => {
    const pkg = await draft();
    // The loop a person would write: one curl per file, one after the other.
    const loop = `for f in "$1"/*; do curl -sS --fail -o /dev/null -H "Authorization: Bearer $SF_TOKEN" -F "file=@$f" "$2" || exit 1; done`;
    const r = await timed("bash", ["-c", loop, "bench", smallDir, `${url}/api/v1/packages/${pkg.id}/files`], env);
    const n = (await sdk.packages.get(pkg.id)).file_count;
    if (n !== SMALL_FILES) throw new Error(`curl loop stored ${n} files`);
    await sdk.packages.delete(pkg.id);
    return r.ms;
  };

  // Warm-up (not counted): the server's routes for both kinds of upload (its JIT), the page
  // cache for the files. Without the small-file path here, round 1's first small send met a cold
  // server (4.6 s against 3.3–3.8 s in rounds 2 and 3).
  const warm = path.join(tmpRoot, "warm.bin");
  await makeFile(warm, Math.min(BYTES, 16 * MiB));
  await timed(process.execPath, [BIN, "send", warm, "--to", "r@example.com", "--json"], env).then((r) => sdk.packages.delete(JSON.parse(r.stdout).id));
  await timed(process.execPath, [BIN, "send", smallDir, "--to", "r@example.com", "--json"], env).then((r) => sdk.packages.delete(JSON.parse(r.stdout).id));
  await curlBig().catch(() => undefined);
  const warmDraft = await draft();
  for (const f of (await fsp.readdir(smallDir)).slice(0, 50)) await timed("curl", curlArgs(warmDraft.id, path.join(smallDir, f)), env);
  await sdk.packages.delete(warmDraft.id);

  await sfBigEnc();
  const res = { sfBig: [] as number[], sfBigEnc: [] as number[], curlBig: [] as number[], sfSmall: [] as number[], curlSmall: [] as number[] };
  for (let round = 1; round <= ROUNDS; round++) {
    const big =
      round % 2
        ? ([
            ["sfBig", sfBig],
            ["sfBigEnc", sfBigEnc],
            ["curlBig", curlBig],
          ] as const)
        : ([
            ["curlBig", curlBig],
            ["sfBigEnc", sfBigEnc],
            ["sfBig", sfBig],
          ] as const);
    const small =
      round % 2
        ? ([
            ["sfSmall", sfSmall],
            ["curlSmall", curlSmall],
          ] as const)
        : ([
            ["curlSmall", curlSmall],
            ["sfSmall", sfSmall],
          ] as const);
    for (const [name, fn] of [...big, ...small]) {
      const ms = await fn();
      res[name].push(ms);
      const isBig = name.startsWith("sfBig") || name === "curlBig";
      const rate = isBig ? `${f1(mbps(BYTES, ms)).padStart(7)} MB/s` : `${f1((SMALL_FILES / ms) * 1000).padStart(7)} files/s`;
      log(`  round ${round} ${name.padEnd(10)} ${f1(ms / 1000).padStart(6)} s  ${rate}`);
    }
  }

  const bigRatio = median(res.curlBig) / median(res.sfBig);
  const smallRatio = median(res.curlSmall) / median(res.sfSmall);
  const encRatio = median(res.curlBig) / median(res.sfBigEnc);
  const bigOk = bigRatio >= BIG_TARGET;
  const smallOk = smallRatio >= SMALL_TARGET;
  report({
    path: `sf send ${f1(BYTES / GiB)} GiB`,
    ours: `${f1(median(res.sfBig) / 1000)} s (${f1(mbps(BYTES, median(res.sfBig)))} MB/s)`,
    baseline: `curl -F ${f1(median(res.curlBig) / 1000)} s`,
    ratio: `${bigRatio.toFixed(2)}×`,
    mustReach: `≥ ${BIG_TARGET}×`,
    goal: "≥ 1.0×",
    pass: bigOk,
  });
  report({
    path: `sf send --encrypt ${f1(BYTES / GiB)} GiB`,
    ours: `${f1(median(res.sfBigEnc) / 1000)} s (${f1(mbps(BYTES, median(res.sfBigEnc)))} MB/s)`,
    baseline: `curl -F (plaintext) ${f1(median(res.curlBig) / 1000)} s`,
    ratio: `${encRatio.toFixed(2)}×`,
    mustReach: `≥ ${ENC_TARGET}×`,
    goal: "≥ 0.8×",
    pass: encRatio >= ENC_TARGET,
  });
  report({
    path: `sf send ${SMALL_FILES.toLocaleString("en")} × ${SMALL_BYTES / 1024} KiB`,
    ours: `${f1(median(res.sfSmall) / 1000)} s`,
    baseline: `sequential curl loop ${f1(median(res.curlSmall) / 1000)} s`,
    ratio: `${smallRatio.toFixed(1)}×`,
    mustReach: `≥ ${SMALL_TARGET}×`,
    goal: "≥ 6×",
    pass: smallOk,
  });
}

runBench("sf send bench", main);
