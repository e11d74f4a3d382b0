import type { Request, Response } from "express";
import type { Logger } from "pino";
import type { components } from "../generated/api.js";
import { ApiError } from "../errors.js";
import { AUDIT_COLUMNS, type EventExport } from "../services/audit-export.js";
import { csvRow } from "../util/csv.js";

type AuditEvent = components["schemas"]["AuditEvent"];

/** The formats of the audit export, by media type. */
export type EventFormat = "json" | "ndjson" | "csv";

const TYPES: Record<EventFormat, string> = { json: "application/json", ndjson: "application/x-ndjson", csv: "text/csv" };

/**
 * The format `Accept` asks for (JSON when it names none, or anything); 406 `not_acceptable`
 * when it names only others.
 */
export function eventFormatOf(req: Request): EventFormat {
  if (!req.headers.accept) return "json";
  const chosen = req.accepts(Object.values(TYPES));
  const format = (Object.keys(TYPES) as EventFormat[]).find((f) => TYPES[f] === chosen);
  if (!format) throw new ApiError(406, "not_acceptable", "Ask for application/json, application/x-ndjson or text/csv");
  return format;
}

/**
 * Characters a terminal or a log viewer may act on that JSON.stringify leaves raw (DEL, C1
 * controls, bidi controls, line and paragraph separators): written as `\uXXXX`, the same
 * characters to a JSON reader, inert on a screen. A user agent or an email tried at sign-in
 * reaches the trail as sent.
 */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** One event as an NDJSON line. */
function jsonLine(e: AuditEvent): string {
  return `${JSON.stringify(e).replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}\n`;
}

/** One event as a CSV record (its `data` as a JSON string). */
function csvRecord(e: AuditEvent): string {
  return csvRow(AUDIT_COLUMNS.map((c) => (c === "data" ? JSON.stringify(e.data) : e[c])));
}

/**
 * Writes an export as NDJSON (one event per line) or CSV (a header row, then one record per
 * event), a batch per write: it waits for `drain` whenever the socket's buffer is full, and stops
 * reading the database as soon as the client goes away. A failure after the headers are sent can
 * only cut the answer short (it is logged): the client sees a truncated stream, never a
 * wrong one.
 */
export async function sendEventStream(req: Request, res: Response, format: "ndjson" | "csv", exp: EventExport, log: Logger): Promise<void> {
  res.status(200);
  res.setHeader("Content-Type", format === "csv" ? "text/csv; charset=utf-8; header=present" : "application/x-ndjson; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  // An export is a file to keep (clients pass an attachment on as a stream, unread).
  res.setHeader("Content-Disposition", `attachment; filename="speedyfiles-audit.${format}"`);
  if (exp.nextCursor !== null) res.setHeader("X-Next-Cursor", exp.nextCursor);
  let gone = false;
  const onClose = () => {
    gone = true;
  };
  res.on("close", onClose);
  try {
    if (format === "csv" && !(await write(res, csvRow(AUDIT_COLUMNS)))) return;
    for await (const batch of exp.batches) {
      if (gone) break;
      const chunk = format === "csv" ? batch.map(csvRecord).join("") : batch.map(jsonLine).join("");
      if (!(await write(res, chunk))) break;
    }
    if (!gone) res.end();
  } catch (err) {
    log.error({ err, url: req.originalUrl.split("?")[0] }, "audit export failed part way; the answer is cut short");
    res.destroy();
  } finally {
    res.off("close", onClose);
    // Ends the database walk if the loop left early (the client went away).
    await exp.batches.return(undefined);
  }
}

/** Writes one chunk; resolves once the socket may take more (true) or the client went away (false). */
function write(res: Response, chunk: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    res.on("drain", onDrain);
    res.on("close", onClose);
  });
}
