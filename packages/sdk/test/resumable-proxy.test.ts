// A proxy that caps request bodies (Cloudflare's 100 MB, say) answers a big PATCH 413 with its
// own page: the error says how to get through, and where to resume.
import fs from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ResumableUploadError, SpeedyFiles } from "../src/index.js";
import { startFaultServer, type FaultServer } from "./helpers/fault-server.js";
import { bytes, tmpDir } from "./helpers/tmp.js";

const PKG = "0b6f5c1e-2a11-4a7b-9a39-3f0c1c368a55";
let fault: FaultServer | undefined;
afterEach(async () => {
  await fault?.close();
  fault = undefined;
});

describe("resumable upload behind a proxy that caps bodies", () => {
  it("a 413 that is not the server's JSON names chunkSize / SF_CHUNK_MIB and the URL to resume", async () => {
    fault = await startFaultServer((req, res) => {
      if (req.method === "POST") {
        req.resume();
        return void res.writeHead(201, { location: `/api/v1/packages/${PKG}/uploads/u1`, "tus-resumable": "1.0.0" }).end();
      }
      // The proxy answers before reading the body, with HTML, and drains what still arrives (as
      // nginx does): one that closed the socket under the client's body would leave it a reset
      // instead of this answer, whoever wins the race (failed that way under load).
      req.resume();
      res.writeHead(413, { "content-type": "text/html" }).end("<html><h1>413 Request Entity Too Large</h1></html>");
    });
    const file = path.join(await tmpDir(), "big.bin");
    await fs.writeFile(file, bytes(3 * 1024 * 1024));
    const sf = new SpeedyFiles({ baseUrl: fault.url, token: `sf_${"T".repeat(43)}`, resumableThreshold: 1024 * 1024 });
    const err = await sf.uploadFile(PKG, file).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ResumableUploadError);
    expect((err as Error).message).toMatch(
      /a proxy between here and the server refused a request of 3145728 bytes \(413\); send smaller requests with \{ resumable: \{ chunkSize \} \} \(SF_CHUNK_MIB for sf\)/,
    );
    expect((err as ResumableUploadError).uploadUrl).toBe(`${fault.url}/api/v1/packages/${PKG}/uploads/u1`);
  });
});
