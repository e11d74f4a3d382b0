import crypto from "node:crypto";
import { Conflict, Gone, NotFound } from "../../errors.js";
import { findFile, listFiles, pagesOfFiles, type FileRow } from "../../db/files.js";
import { holdPackage } from "../../db/packages.js";
import {
  claimLimitNotice,
  claimReceipt,
  countFileDownloads,
  countLinkDownload,
  countPackageFileDownloads,
  deleteHolds,
  deleteStaleHolds,
  fileDownloadCounts,
  insertHolds,
  liveHolds,
  lockLink,
} from "../../db/links.js";
import { toFileView } from "../packages.js";
import { archiveName } from "../file-names.js";
import type { ArchiveDownload, ByteRange, FileDownload } from "../downloads.js";
import { nowIso, type Client, type Services } from "../context.js";
import { emit } from "../../events/emit.js";
import { authorizeRecipient } from "../../policies/index.js";
import { type LiveLink, type LinkAccess, openLink } from "./access.js";
import { usedUpFiles, limitReached } from "./view.js";

/**
 * What counts as a download of a file through a link: an answer that was sent to its end and
 * carried the file's last byte. A page view, the JSON view, a HEAD, a 304 or a download the
 * client stopped never counts; a download resumed to the end counts once, when it ends.
 */
export function countsAsDownload(range: ByteRange | undefined, size: number): boolean {
  return range === undefined || range.end === size - 1;
}

/**
 * With max_downloads, a download that would count takes a hold on one of each of its files'
 * remaining downloads before its first byte, under the link's row lock: two downloads racing for
 * the last one cannot both start (the second answers 409 `download_in_progress`, or 410 once the
 * first was counted). The hold becomes a count when the last byte was sent and is dropped when the
 * download stops short; one left by a process that died mid-transfer lapses at `until` (an hour
 * plus the time the bytes take at 1 MB/s).
 */
async function takeHolds(s: Services, l: LiveLink, files: { id: string; size: number }[]): Promise<string[]> {
  const max = l.pkg.max_downloads;
  if (max === null) return [];
  const now = s.clock();
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const until = new Date(now.getTime() + 3_600_000 + Math.ceil(bytes / 1000)).toISOString();
  return s.db.transaction(async (trx) => {
    await lockLink(trx, l.link.id);
    await deleteStaleHolds(trx, l.link.id, now.toISOString());
    const counts = await fileDownloadCounts(trx, l.link.id);
    const holds = await liveHolds(trx, l.link.id, now.toISOString());
    for (const f of files) {
      const done = counts.get(f.id) ?? 0;
      if (done >= max) throw limitReached();
      if (done + (holds.get(f.id) ?? 0) >= max) {
        throw new Conflict("download_in_progress", "This file's last allowed download through this link is under way; try again if it does not finish");
      }
    }
    const rows = files.map((f) => ({ id: crypto.randomUUID(), link_id: l.link.id, file_id: f.id, until }));
    await insertHolds(trx, rows);
    return rows.map((r) => r.id);
  });
}

/**
 * A complete download through a link: its count (per link, per file, per package), its audit
 * line and webhook event, in one transaction; then the link's counts with the sender's receipts
 * (the recipient's first complete download; every file of the link used up) queued, when the
 * package asks for them.
 */
async function recordDownload(s: Services, l: LiveLink, client: Client, file: FileRow | undefined, holdIds: string[]): Promise<void> {
  const now = nowIso(s.clock);
  const p = l.pkg;
  // Two short transactions, each touching one row every download of this package (or link)
  // updates, so concurrent downloads queue only briefly: first the audit trail as before (the
  // event, the package's count, the webhook), visible as soon as the transfer ends; then this
  // link's counts, which also turn its holds into counts (a hold keeps the download reserved
  // until then, so the limit is never overrun in between). A crash between the two loses one
  // link count, never a limit: the hold lapses at its `until`.
  // The package may have been deleted since the download began (its file stays readable until
  // the download ends): then there is no trail to add to, and nothing is recorded. Each
  // transaction holds the package's row first (holdPackage), as its deletion locks it first.
  await s.db.transaction(async (trx) => {
    if (!(await holdPackage(trx, p.id))) return;
    await emit(trx, s, { type: "package.downloaded", pkg: p, link: l.link, ...(file ? { file: toFileView(file) } : {}), client });
  });
  await s.db.transaction(async (trx) => {
    if (!(await holdPackage(trx, p.id))) return;
    if (file) await countFileDownloads(trx, l.link.id, [file.id]);
    else await countPackageFileDownloads(trx, l.link.id, p.id);
    await deleteHolds(trx, holdIds);
    await countLinkDownload(trx, l.link.id, now);
    if (!p.notify_on_download) return;
    // The receipt of this recipient's first complete download, and the notice that every file
    // reached the limit: each claimed once on the link's row, and queued with the claim.
    if (await claimReceipt(trx, l.link.id, now)) {
      await emit(trx, s, {
        type: "link.first_download",
        pkg: p,
        link: l.link,
        what: file ? (p.encryption_scheme === null ? `"${file.name}"` : "an encrypted file") : "all files (zip)",
      });
    }
    if (p.max_downloads === null) return;
    const counts = await fileDownloadCounts(trx, l.link.id);
    const done = [...counts.values()].filter((n) => n >= p.max_downloads!).length;
    if (done >= p.file_count && (await claimLimitNotice(trx, l.link.id, now))) await emit(trx, s, { type: "link.used_up", pkg: p, link: l.link });
  });
}

/** Releases holds of a download that stopped short; a failure is logged (the hold lapses anyway). */
async function releaseHolds(s: Services, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  try {
    await deleteHolds(s.db, ids);
  } catch (err) {
    s.logger.warn({ err }, "could not release a download hold");
  }
}

/** `GET /links/{link}/files/{file_id}`. */
export async function downloadLinkFile(s: Services, secret: string, fileId: string, client: Client, access: LinkAccess = {}): Promise<FileDownload> {
  const l = await openLink(s, secret, access);
  authorizeRecipient("download", l.pkg);
  const f = await findFile(s.db, l.pkg.id, fileId);
  if (!f) throw new NotFound("file_not_found", "File not found");
  if ((await usedUpFiles(s, l)).has(f.id)) throw new Gone("download_limit_reached", "This file was downloaded as many times as the sender allowed through this link");
  let holds: string[] = [];
  return {
    kind: "file",
    file: f,
    cacheControl: "no-store",
    begin: async (range) => {
      if (countsAsDownload(range, f.size)) holds = await takeHolds(s, l, [f]);
    },
    onSent: async (range) => {
      if (!countsAsDownload(range, f.size)) return releaseHolds(s, holds);
      await recordDownload(s, l, client, f, holds);
    },
    onUnsent: () => releaseHolds(s, holds),
  };
}

/** Up to this many files, a zip's length is computed before it is sent (all rows are read first). */
const ARCHIVE_SIZED_UP_TO = 1000;

/**
 * `GET /links/{link}/archive`: every file as one zip; counts once the whole zip was sent (as one
 * complete download of every file in it). Up to 1,000 files the answer has a Content-Length (a
 * progress bar for the recipient); above, the zip starts at once and the files' rows are read a
 * page at a time while it streams (with max_downloads every row is read first: each file is held).
 */
export async function downloadLinkArchive(s: Services, secret: string, client: Client, access: LinkAccess = {}): Promise<ArchiveDownload> {
  const l = await openLink(s, secret, access);
  const p = l.pkg;
  authorizeRecipient("download", p);
  if (p.encryption_scheme !== null) {
    // The server holds ciphertext only: a zip of it would open nothing. The recipient's side
    // decrypts each file (and may zip them there).
    throw new Conflict(
      "package_encrypted",
      "These files are encrypted end to end, so the server cannot put them in one zip: download them one by one (the recipient's page decrypts each)",
    );
  }
  if ((await usedUpFiles(s, l)).size > 0) {
    throw new Gone("download_limit_reached", "Some of these files were downloaded as many times as the sender allowed; download the others one by one");
  }
  const all = p.file_count <= ARCHIVE_SIZED_UP_TO || p.max_downloads !== null ? await listFiles(s.db, p.id) : undefined;
  let holds: string[] = [];
  return {
    kind: "archive",
    name: archiveName(p.title),
    files: all ?? pagesOfFiles(s.db, p.id, 500),
    begin: async () => {
      if (all) holds = await takeHolds(s, l, all);
    },
    // Without a limit, per-file counts are still kept (a limit set later starts from them).
    onSent: () => recordDownload(s, l, client, undefined, holds),
    onUnsent: () => releaseHolds(s, holds),
  };
}
