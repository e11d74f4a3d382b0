import path from "node:path";
import { expandPaths, type FinalizedPackage, type LocalFile, type PackageCreateRequest, type SpeedyFiles } from "@speedyfiles/sdk";

export interface SendRequest {
  /** Plain paths (globs already resolved): files, or folders sent whole under their own name. */
  paths: string[];
  to: string[];
  title?: string | undefined;
  message?: string | undefined;
  ttlDays?: number | undefined;
  maxDownloads?: number | undefined;
  /** Makes a repeated send (a retried step) answer the first one's package instead of a new one. */
  idempotencyKey?: string | undefined;
  /** A file is on the server. */
  onFile?: (f: { name: string; size: number; skipped: boolean }) => void;
  /** A retry found the package of an earlier attempt already sent, with other files than these. */
  onStale?: (message: string) => void;
}

/**
 * Sends the files. Without an idempotency key this is the SDK's `send()`. With one, the same steps
 * (create → upload → finalize) carry keys derived from it, so an attempt that failed or whose
 * answer was lost is finished by the retry: create answers the same package, files the server
 * already holds are not sent again, and finalize answers the first finalize's links without a
 * second email. A failed attempt's draft is kept for that retry (the SDK's send deletes it).
 * When the SDK's `send()` takes an idempotency key itself, this can shrink to that call.
 */
export async function sendFiles(sf: SpeedyFiles, req: SendRequest): Promise<FinalizedPackage> {
  const files = await expandPaths(req.paths);
  if (files.length === 0) throw new Error("nothing to send: the path input matched no files");
  if (!req.idempotencyKey) {
    const r = await sf.send({
      files: req.paths,
      expanded: files,
      to: req.to.length === 1 ? req.to[0]! : req.to,
      ...(req.title ? { title: req.title } : {}),
      ...(req.message ? { message: req.message } : {}),
      ...(req.ttlDays !== undefined ? { ttl_days: req.ttlDays } : {}),
      ...(req.maxDownloads !== undefined ? { max_downloads: req.maxDownloads } : {}),
      onProgress: (p) => {
        if (p.phase === "done" && p.file) req.onFile?.({ name: p.file, size: p.fileSize, skipped: false });
      },
    });
    return r.package;
  }

  const key = req.idempotencyKey;
  const draft = await sf.packages.create(createBody(req, files), { idempotencyKey: `${key}-create` });
  // A replayed create answers the package as it was then: ask what it holds now.
  const pkg = await sf.packages.get(draft.id);
  if (pkg.status === "draft") {
    const have = new Map(pkg.files.map((f) => [f.name, f]));
    for (const f of pkg.files) {
      const mine = files.find((x) => x.name === f.name);
      // Left by an earlier attempt and no longer what this one sends: replaced.
      if (!mine || mine.size !== f.size) {
        await sf.files.delete(pkg.id, f.id);
        have.delete(f.name);
      }
    }
    await pool(files, 4, async (f) => {
      if (have.get(f.name)?.size === f.size) {
        req.onFile?.({ name: f.name, size: f.size, skipped: true });
        return;
      }
      await sf.uploadFile(pkg.id, f.path, { name: f.name });
      req.onFile?.({ name: f.name, size: f.size, skipped: false });
    });
  }
  const fin = await sf.packages.finalize(pkg.id, { idempotencyKey: `${key}-finalize` });
  if (pkg.status !== "draft") {
    const sent = fin.files
      .map((f) => `${f.name}:${f.size}`)
      .sort()
      .join("\n");
    const local = files
      .map((f) => `${f.name}:${f.size}`)
      .sort()
      .join("\n");
    if (sent !== local) {
      req.onStale?.(
        "an earlier attempt of this step in this workflow run already sent this package, with other files than these; " +
          "the recipients have the earlier files (re-run the whole workflow, or change the title, to send these)",
      );
    }
  }
  return fin;
}

function createBody(req: SendRequest, files: LocalFile[]): PackageCreateRequest {
  const to = req.to;
  return {
    title: req.title ?? defaultTitle(req.paths, files),
    ...(to.length === 1 ? { recipient_email: to[0]! } : { recipients: to.map((email) => ({ email })) }),
    direction: "outbound",
    ttl_days: req.ttlDays ?? 7,
    ...(req.message ? { message: req.message } : {}),
    ...(req.maxDownloads !== undefined ? { max_downloads: req.maxDownloads } : {}),
  };
}

/** As the SDK's send: one file's name, one folder's name, else `N files`. */
function defaultTitle(inputs: string[], files: LocalFile[]): string {
  if (files.length === 1) return files[0]!.name;
  if (inputs.length === 1) return path.basename(path.resolve(inputs[0]!));
  return `${files.length} files`;
}

async function pool<T>(items: T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(size, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(runners);
}
