import type { SendProgress } from "@speedyfiles/sdk";
import { formatBytes } from "../output.js";
import type { TransferView } from "../progress.js";

/**
 * Small files are bound by per-request latency (the server fsyncs each one), big ones by
 * bandwidth: many small files go 16 at a time, anything else 4 (more only adds disk seeks).
 */
export function defaultConcurrency(files: number, bytes: number): number {
  return files > 4 && bytes / files < 1024 * 1024 ? 16 : 4;
}

/**
 * SDK progress events → view calls: the first event of a file starts it, at the bytes the server
 * already had (a resumed upload's offset). A `done` with no event before it is a file the resumed
 * draft already held: finished, but not sent in this run.
 */
export function progressAdapter(
  view: TransferView,
  onTotal: (bytes: number) => void,
  onStored: (size: number) => void,
  onResumed: (bytes: number) => void = () => undefined,
  plainSizes = false,
): (p: SendProgress) => void {
  const started = new Set<string>();
  return (p) => {
    onTotal(p.bytes);
    if (p.phase === "resumed") {
      onResumed(p.bytes);
      const pct = p.totalBytes > 0 ? Math.floor((p.bytes / p.totalBytes) * 100) : 0;
      view.note(`Resuming the interrupted send: resumed at ${pct} % (${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)} already on the server)`);
      return;
    }
    // An encrypted file's stored size is its ciphertext's: the person sent the file's own bytes.
    const size = plainSizes && p.fileSize > 0 ? p.fileSize : (p.uploaded?.size ?? p.fileSize);
    if (!started.has(p.file)) {
      started.add(p.file);
      if (p.phase === "done") {
        onStored(size);
        return view.skip(p.file, size);
      }
      view.start(p.file, p.fileSize || undefined, p.fileBytes);
    }
    if (p.phase === "done") {
      onStored(size);
      view.done(p.file, size);
    } else view.progress(p.file, p.fileBytes);
  };
}
