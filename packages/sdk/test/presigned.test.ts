// Presigned downloads: with SF_S3_PRESIGN_DOWNLOADS=true a download answers 302 to the object store. The
// SDK (and so `sf`) follows it, without our token, and resumes against the store.
import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startS3rver, type S3Server } from "@speedyfiles/test-utils/s3";
import { SpeedyFiles } from "../src/index.js";
import { tmpDir } from "./helpers/tmp.js";

const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");

describe.each(DATABASES)("downloads offloaded to presigned S3 URLs (%s)", (kind) => {
  let s3: S3Server;
  let t: TestServer;
  let sf: SpeedyFiles;
  let link: string;
  let packageId: string;
  let fileId: string;
  const big = crypto.randomBytes(9 * MiB + 5);
  const small = Buffer.from("small file\n");

  beforeAll(async () => {
    s3 = await startS3rver();
    t = await startTestServer(kind, { s3: { server: s3, presign: true } });
    const { token } = await t.createUser();
    sf = new SpeedyFiles({ baseUrl: t.url, token });
    const pkg = await sf.packages.create({ title: "presigned", recipient_email: "a@b.co", direction: "outbound", ttl_days: 1 });
    packageId = pkg.id;
    fileId = (await sf.uploadFile(pkg.id, big, { name: "big.bin" })).id;
    await sf.uploadFile(pkg.id, small, { name: "dir/small.txt" });
    link = (await sf.packages.finalize(pkg.id)).magic_link.replace(/^https?:\/\/[^/]+/, t.url);
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await s3?.stop();
  });

  it("the server answers 302 (so the bytes really come from the store)", async () => {
    const res = await fetch(`${t.api}/links/${link.split("/l/")[1]}/files/${fileId}`, { redirect: "manual" });
    expect(res.status).toBe(302);
  });

  it("downloadFile and downloadAll follow the redirect and verify every byte", async () => {
    const dir = await tmpDir("sdk-presigned-");
    const one = await sf.downloadFile(packageId, fileId, path.join(dir, "owner.bin"));
    expect(one.sha256).toBe(sha256(big));
    expect(sha256(await fs.readFile(path.join(dir, "owner.bin")))).toBe(sha256(big));

    const all = await sf.downloadAll(link, path.join(dir, "all"));
    expect(all.files.map((f) => f.name).sort()).toEqual(["big.bin", "dir/small.txt"]);
    expect(await fs.readFile(path.join(dir, "all", "dir", "small.txt"))).toEqual(small);
    expect(sha256(await fs.readFile(path.join(dir, "all", "big.bin")))).toBe(sha256(big));
  });

  it("resumes a partial download from the store with a Range", async () => {
    const dir = await tmpDir("sdk-presigned-resume-");
    const dest = path.join(dir, "resumed.bin");
    await fs.writeFile(`${dest}.part`, big.subarray(0, 3 * MiB));
    const starts: number[] = [];
    const r = await sf.downloadFile(packageId, fileId, dest, { onProgress: (p) => starts.push(p.bytes) });
    // The first progress event says where the transfer started: after the 3 MiB already there.
    expect(starts[0]).toBe(3 * MiB);
    expect(r.sha256).toBe(sha256(big));
    expect(sha256(await fs.readFile(dest))).toBe(sha256(big));
  });
});
