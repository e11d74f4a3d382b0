import type { Config } from "../config.js";
import { countPurgedFiles, fileStillHeld, heldFilesAfter, type HeldFile } from "../db/files.js";
import { instanceId } from "../db/instance.js";
import { closeDatabase } from "../db/knex.js";
import { openMigratedDatabase } from "../db/open.js";
import { eachOrphan } from "../services/orphan-blobs.js";
import { formatBytes } from "../util/format-bytes.js";
import { redactUrl } from "../util/redact-url.js";
import { exists, hashStream } from "./copy.js";
import { openBlobAccess, type BlobAccess } from "./stores.js";

type Print = (line: string) => void;

const PAGE = 500;
/** Unreferenced blobs named one by one (the rest are counted). */
const LIST_AT_MOST = 100;

interface Problem {
  row: HeldFile;
  what: "missing" | "size" | "sha256";
  detail: string;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The instance a store's marker names ("unreadable" when it is not ours or damaged). */
function markerInstance(text: string): string {
  try {
    const id = (JSON.parse(text) as { instance?: unknown }).instance;
    return typeof id === "string" && id !== "" ? id : "unreadable";
  } catch {
    return "unreadable";
  }
}

/** One referenced blob: there, with the recorded size (and SHA-256 when asked); a problem otherwise. */
async function checkOne(row: HeldFile, blobs: BlobAccess, sha256: boolean): Promise<Problem | undefined> {
  const size = await blobs.size(row.storage_key);
  if (size === undefined) return { row, what: "missing", detail: `not in ${blobs.where} (the files table says ${row.size} bytes)` };
  if (size !== row.size) return { row, what: "size", detail: `${size} bytes stored; the files table says ${row.size}` };
  if (!sha256) return undefined;
  const got = await hashStream(blobs.store.read(row.storage_key));
  if (got.sha256 !== row.sha256) return { row, what: "sha256", detail: `the stored bytes hash to ${got.sha256}; the files table says ${row.sha256}` };
  return undefined;
}

/**
 * `speedyfiles-server check [--sha256]`: the rows and the stored objects agree. Every file of a
 * package not purged has its blob, with the recorded size (and SHA-256 with `sha256`: every blob
 * read); blobs no row refers to are counted and named (the orphan sweep's own test), which is not
 * an error: the sweeper removes them once older than the grace. A store whose marker names another
 * database is an error. Safe on a running server: a problem is reported only if its file row still
 * stands after it was found. Resolves true when consistent.
 */
export async function runCheck(config: Readonly<Config>, opts: { sha256: boolean }, print: Print, progress: Print): Promise<boolean> {
  const db = await openMigratedDatabase(config.databaseUrl);
  const blobs = openBlobAccess(config);
  try {
    const instance = await instanceId(db);
    print(`check: database ${redactUrl(config.databaseUrl)} (instance ${instance}); blobs in ${blobs.where}`);
    const errors: string[] = [];
    const marker = await blobs.store.readMarker?.();
    if (marker !== undefined && markerInstance(marker) !== instance) {
      errors.push(
        `the store's marker (${blobs.store.markerLocation}) names instance ${markerInstance(marker)}, not this database's: SF_DATABASE_URL or the store settings point at different deployments`,
      );
    }

    let files = 0;
    let stored = 0;
    let bytes = 0;
    let lastKey = "";
    const problems: Problem[] = [];
    let after: HeldFile | undefined;
    for (;;) {
      const rows = await heldFilesAfter(db, after, PAGE);
      for (const row of rows) {
        files++;
        if (row.storage_key === lastKey) continue;
        lastKey = row.storage_key;
        stored++;
        bytes += row.size;
        const p = await checkOne(row, blobs, opts.sha256);
        if (p) problems.push(p);
        if (stored % 1000 === 0) progress(`check: ${stored} blobs checked`);
      }
      if (rows.length < PAGE) break;
      after = rows.at(-1);
    }
    // A file deleted (or purged) while we looked took its blob with it: not a problem.
    const confirmed: Problem[] = [];
    for (const p of problems) if (await fileStillHeld(db, p.row.id)) confirmed.push(p);
    const count = (w: Problem["what"]) => confirmed.filter((p) => p.what === w).length;
    const good = stored - confirmed.length;
    const purged = await countPurgedFiles(db);
    print(
      `check: ${plural(files, "file")} in ${plural(stored, "stored blob")} (${formatBytes(bytes)}): ${good} present with the recorded size${opts.sha256 ? " and SHA-256" : ""}, ` +
        `${count("missing")} missing, ${count("size")} with another size${opts.sha256 ? `, ${count("sha256")} with another SHA-256` : ""}` +
        (purged > 0 ? `; ${plural(purged, "file")} of purged packages ${purged === 1 ? "has" : "have"} no bytes, as intended` : ""),
    );
    for (const p of confirmed) errors.push(`${p.what === "sha256" ? "SHA-256" : p.what}: blob ${p.row.storage_key} of file ${p.row.id} (package ${p.row.package_id}): ${p.detail}`);

    const grace = Date.now() - config.orphanGraceHours * 3_600_000;
    const unreferenced: { key: string; modifiedAt: Date }[] = [];
    let unrefCount = 0;
    let young = 0;
    let unrefBytes = 0;
    // (A data folder where nothing was ever uploaded has no blobs folder to list.)
    const listable = blobs.kind === "s3" || (await exists(blobs.where));
    if (listable)
      await eachOrphan({ db, storage: blobs.store }, Number.POSITIVE_INFINITY, async (blob) => {
        unrefCount++;
        if (blob.modifiedAt.getTime() >= grace) young++;
        unrefBytes += (await blobs.size(blob.key)) ?? 0;
        if (unreferenced.length < LIST_AT_MOST) unreferenced.push(blob);
        return true;
      });
    if (unrefCount > 0) {
      print(
        `check: ${plural(unrefCount, "stored blob")} no row refers to (${formatBytes(unrefBytes)}${young > 0 ? `; ${young} younger than SF_ORPHAN_GRACE_HOURS, maybe an upload finishing` : ""}): ` +
          "not an error, the sweeper removes them once older than the grace",
      );
      for (const b of unreferenced) print(`  unreferenced: blob ${b.key}, written ${b.modifiedAt.toISOString()}`);
      if (unrefCount > unreferenced.length) print(`  … and ${unrefCount - unreferenced.length} more`);
    } else {
      print("check: every stored blob is referred to by a row");
    }

    if (errors.length === 0) {
      print("check: consistent");
      return true;
    }
    print(`check: NOT consistent, ${plural(errors.length, "problem")}:`);
    for (const e of errors) print(`  ${e}`);
    return false;
  } finally {
    blobs.close();
    await closeDatabase(db);
  }
}
