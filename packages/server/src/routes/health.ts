import type { Handler } from "../http/operations.js";
import * as health from "../services/health.js";

export const getHealth: Handler<"getHealth"> = async ({ s }) => {
  const h = await health.getHealth(s);
  // A 503 is still a health report (the schema of both answers is Health).
  return { status: (h.status === "ok" ? 200 : 503) as 200, body: h };
};
