import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Metrics } from "../metrics/registry.js";
import { labelOperation, operationLabel, sendMetrics } from "./metrics.js";

export interface MetricsListener {
  /** `http://host:port`, the port chosen when 0 was asked for. */
  url: string;
  close(): Promise<void>;
}

const json = (res: http.ServerResponse, status: number, body: object, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), "Cache-Control": "no-store", ...headers });
  res.end(text);
};

/**
 * SF_METRICS_LISTEN: a listener of its own that answers `GET /metrics` without a token and 404 to
 * anything else, so the API never shows on that address and the metrics can stay on a network
 * only Prometheus reaches. Resolves once it listens; rejects if the address cannot be taken.
 */
export async function startMetricsListener(metrics: Metrics, host: string, port: number, logger: Logger): Promise<MetricsListener> {
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    const started = performance.now();
    res.once("close", () => metrics.observeRequest(operationLabel(req, res), res.statusCode, (performance.now() - started) / 1000));
    const path = (req.url ?? "").split("?", 1)[0];
    if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) labelOperation(res, "unknown");
    if (path !== "/metrics") return json(res, 404, { detail: "Not found", code: "not_found" });
    if (req.method !== "GET" && req.method !== "HEAD") return json(res, 405, { detail: "Method not allowed", code: "method_not_allowed" }, { Allow: "GET, HEAD" });
    sendMetrics(metrics, res).catch((err: unknown) => {
      logger.error({ err }, "metrics: the scrape failed");
      if (!res.headersSent) json(res, 500, { detail: "Internal server error", code: "internal_error" });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shown}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
