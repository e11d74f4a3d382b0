import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import type { S3Config } from "../../server/src/config.js";
import { s3Client } from "../../server/src/storage/s3.js";

const S3RVER_RUN = fileURLToPath(new URL("./s3rver-run.mjs", import.meta.url));

/** s3rver's fixed credentials. */
const ACCESS_KEY = "S3RVER";
const SECRET_KEY = "S3RVER";

export interface S3Server {
  endpoint: string;
  /** The bucket created at start. */
  bucket: string;
  dir: string;
  /** The SF_* variables of a server storing in `bucket` under `prefix` (a fresh one by default). */
  env(opts?: { prefix?: string; bucket?: string; presign?: boolean; presignSeconds?: number }): Record<string, string>;
  /** A client of the bucket, as the server makes it. */
  client: S3Client;
  /** Keys of the objects under `prefix`, sorted; not the store's marker (`.speedyfiles-store`, written by the orphan sweep). */
  objects(prefix?: string, bucket?: string): Promise<string[]>;
  /**
   * The requests s3rver answered so far (`POST /bucket/key?uploads 200`…).
   * s3rver 3.7.1 implements neither ListMultipartUploads nor AbortMultipartUpload (it answers
   * 501 and 405), so what a test can check there is that our server *asked* for the abort.
   */
  requests(): string[];
  /** An object's bytes. */
  getObject(key: string): Promise<Buffer>;
  /** Stops the process, keeping its objects: the store is unreachable until `resume()`. */
  pause(): Promise<void>;
  /** Starts it again on the same port and folder, with the objects it had. */
  resume(): Promise<void>;
  /** SIGSTOP / SIGCONT: connections are accepted but nothing is answered until thawed. */
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

/**
 * A real S3-compatible server (npm `s3rver`, pinned) in a child process on a loopback port, with
 * one bucket, storing under a temp folder. Never a mocked client.
 */
export async function startS3rver(opts: { bucket?: string } = {}): Promise<S3Server> {
  const bucket = opts.bucket ?? "sf-test";
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-s3rver-"));
  // s3rver logs every request; keep draining its output so it never blocks on a full pipe.
  let log = "";
  const spawnIt = async (wanted: number) => {
    // s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in its legacy
    // provider: without it every truncated listing (a paginated one) is a 500.
    const c: ChildProcess = spawn(process.execPath, ["--openssl-legacy-provider", S3RVER_RUN, dir, bucket, String(wanted)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const p = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`s3rver did not start:\n${out}`)), 20_000);
      const onData = (b: Buffer) => {
        out = (out + b.toString()).slice(-8192);
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      c.stdout!.on("data", onData);
      c.stderr!.on("data", onData);
      c.once("exit", (code) => reject(new Error(`s3rver exited (${code}):\n${out}`)));
    });
    const keep = (b: Buffer) => {
      if (log.length < 16 * 1024 * 1024) log += b.toString();
    };
    c.stdout!.on("data", keep);
    c.stderr!.on("data", keep);
    return { c, p };
  };
  const first = await spawnIt(0);
  let child = first.c;
  const port = first.p;
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      await exited;
    }
  };
  const endpoint = `http://127.0.0.1:${port}`;
  const config: S3Config = {
    bucket,
    region: "us-east-1",
    endpoint,
    forcePathStyle: true,
    accessKeyId: ACCESS_KEY,
    secretAccessKey: SECRET_KEY,
    prefix: "",
    presignDownloads: false,
    presignSeconds: 300,
  };
  const client = s3Client(config);

  return {
    endpoint,
    bucket,
    dir,
    client,
    env(o = {}) {
      return {
        SF_STORAGE: "s3",
        SF_S3_BUCKET: o.bucket ?? bucket,
        SF_S3_REGION: "us-east-1",
        SF_S3_ENDPOINT: endpoint,
        SF_S3_FORCE_PATH_STYLE: "true",
        SF_S3_ACCESS_KEY_ID: ACCESS_KEY,
        SF_S3_SECRET_ACCESS_KEY: SECRET_KEY,
        SF_S3_PREFIX: o.prefix ?? `t-${crypto.randomBytes(4).toString("hex")}/`,
        ...(o.presign ? { SF_S3_PRESIGN_DOWNLOADS: "true" } : {}),
        ...(o.presignSeconds ? { SF_S3_PRESIGN_SECONDS: String(o.presignSeconds) } : {}),
      };
    },
    async objects(prefix = "", b = bucket) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: b, Prefix: prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) if (!o.Key!.endsWith(".speedyfiles-store")) keys.push(o.Key!);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    },
    requests() {
      return log
        .split("\n")
        .filter((l) => l.startsWith("S3REQ "))
        .map((l) => l.slice(6));
    },
    async getObject(key) {
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await got.Body!.transformToByteArray());
    },
    pause: kill,
    freeze: () => void child.kill("SIGSTOP"),
    thaw: () => void child.kill("SIGCONT"),
    async resume() {
      child = (await spawnIt(port)).c;
    },
    async stop() {
      client.destroy();
      await kill();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
