/**
 * Bare upload sink for the upload benchmark (bench/upload.bench.ts) — NOT part of the server.
 *
 * A plain node:http server that streams a multipart body through busboy (same defaults as the
 * server's src/http/multipart.ts) into fs.createWriteStream with the same 1 MiB highWaterMark as
 * src/storage/local.ts, fsyncs, and answers 201 with the path written. No hashing, no database,
 * no Express: the floor our server is compared against.
 *
 * Usage: node --import tsx bench/baseline-sink.ts <dir>   (prints "SINK http://127.0.0.1:PORT")
 */
import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";
import busboy from "busboy";

const WRITE_HWM = 1024 * 1024;
const dir = process.argv[2];
if (!dir) {
  process.stderr.write("usage: baseline-sink.ts <dir>\n");
  process.exit(2);
}

function answer(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer({ requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 5_000 }, (req, res) => {
  if (req.method !== "POST") return answer(res, 405, { detail: "POST a multipart body" });
  let bb: busboy.Busboy;
  try {
    bb = busboy({ headers: req.headers, limits: { files: 1 } });
  } catch {
    return answer(res, 415, { detail: "multipart/form-data expected" });
  }
  let put: Promise<{ path: string; size: number }> | undefined;
  bb.on("file", (_field, stream) => {
    if (put) {
      stream.resume();
      return;
    }
    const file = path.join(dir, `${crypto.randomUUID()}.bin`);
    const out = fs.createWriteStream(file, { highWaterMark: WRITE_HWM, flags: "wx" });
    let size = 0;
    stream.on("data", (c: Buffer) => {
      size += c.length;
    });
    put = (async () => {
      await pipeline(stream, out);
      const fh = await fsp.open(file, "r+");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      return { path: file, size };
    })();
    put.catch(() => undefined);
  });
  bb.on("error", (err: Error) => answer(res, 400, { detail: err.message }));
  bb.on("close", () => {
    if (!put) return answer(res, 422, { detail: "no file part" });
    put.then(
      (r) => answer(res, 201, r),
      (err: Error) => answer(res, 500, { detail: err.message }),
    );
  });
  req.pipe(bb);
});

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as AddressInfo;
  process.stderr.write(`SINK http://127.0.0.1:${port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
