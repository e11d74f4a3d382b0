import type { Handler } from "../http/operations.js";
import { eventFormatOf, sendEventStream } from "../http/event-stream.js";
import * as audit from "../services/audit-export.js";

/**
 * `GET /admin/events` (the `admin` scope is checked by the router): a JSON page, or the whole
 * export streamed as NDJSON or CSV, as `Accept` asks.
 */
export const listAdminEvents: Handler<"listAdminEvents"> = async ({ s, req, res, query }) => {
  const format = eventFormatOf(req);
  if (format === "json") return { status: 200, body: await audit.listAdminEvents(s, query) };
  await sendEventStream(req, res, format, await audit.exportAdminEvents(s, query), req.log ?? s.logger);
  return { kind: "sent" };
};
