import http from "node:http";
import type { AddressInfo } from "node:net";

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** performance.now() when the request arrived. */
  at: number;
  /** Bytes of the request body (read by the handler through `readBody`). */
  bodyBytes?: number;
}

export type FaultHandler = (req: http.IncomingMessage, res: http.ServerResponse, seen: SeenRequest, n: number) => void | Promise<void>;

export interface FaultServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/**
 * A tiny real HTTP server on 127.0.0.1 for the faults the real server never produces (503s,
 * resets, 429 with Retry-After, a wrong sha256, no answer at all). `n` counts requests from 0.
 */
export async function startFaultServer(handler: FaultHandler): Promise<FaultServer> {
  const requests: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const seen: SeenRequest = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, at: performance.now() };
    const n = requests.push(seen) - 1;
    Promise.resolve(handler(req, res, seen, n)).catch((err) => {
      res.destroy(err as Error);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Reads and counts a request body. */
export async function readBody(req: http.IncomingMessage, seen?: SeenRequest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const buf = Buffer.concat(chunks);
  if (seen) seen.bodyBytes = buf.length;
  return buf;
}

export function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "x-request-id": "req-fault-1", ...headers });
  res.end(text);
}

export const FAKE_USER = {
  id: "6b1e5c1e-2a11-4a7b-9a39-0b6f3f0c1c36",
  email: "alice@example.com",
  name: "Alice",
  role: "user",
  disabled: false,
  created_at: "2026-11-27T10:00:00.000Z",
};
