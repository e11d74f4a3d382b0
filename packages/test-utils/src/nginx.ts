import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { closedPort } from "./process.js";
import { until } from "./uploads.js";

export const NGINX = process.env.SF_TEST_NGINX ?? "/usr/sbin/nginx";

export interface TestNginx {
  url: string;
  /** What nginx wrote to its access log so far (the shipped `sf_redacted` format). */
  accessLog(): Promise<string>;
  stop(): Promise<void>;
}

const DEPLOY_CONF = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../deploy/nginx.conf");

/**
 * The parts of the shipped deploy/nginx.conf a test nginx runs with, verbatim: the log maps and
 * format, the proxying `location /`, and the commented local-disk `internal` location (the
 * snippet in docs/deployment.md), uncommented.
 */
export async function deployNginxParts(): Promise<{ http: string; proxy: string; accel: string }> {
  const conf = await fs.readFile(DEPLOY_CONF, "utf8");
  const one = (re: RegExp, what: string) => {
    const m = conf.match(re);
    if (!m) throw new Error(`deploy/nginx.conf has no ${what}`);
    return m[0];
  };
  const maps = [...conf.matchAll(/^ {2}map [\s\S]*?^ {2}\}$/gm)].map((m) => m[0]);
  // Without the shipped format (an older nginx.conf), nginx's own "combined" under our name.
  const format =
    conf.match(/^ {2}log_format[\s\S]*?';$/m)?.[0] ??
    `  log_format sf_redacted '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';`;
  const http = [...maps, format].join("\n");
  const proxy = one(/^ {4}location \/ \{[\s\S]*?^ {4}\}$/m, "location /");
  const accel = one(/^ {4}# location \/_sf_blobs\/ \{[\s\S]*?^ {4}# \}$/m, "commented location /_sf_blobs/").replace(/^( {4})# ?/gm, "$1");
  return { http, proxy, accel };
}

/**
 * A real nginx on a loopback port in front of `upstream`, configured with what deploy/nginx.conf
 * ships (see deployNginxParts): proxying everything, unbuffered, with the `internal` location
 * SF_ACCEL_REDIRECT points at (`accelPrefix`, an alias of `blobDir`).
 */
export async function startNginx(opts: { upstream: string; accelPrefix: string; blobDir: string }): Promise<TestNginx> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-nginx-"));
  const port = await closedPort();
  const upstream = new URL(opts.upstream).host;
  const parts = await deployNginxParts();
  const accel = parts.accel.replace("location /_sf_blobs/ {", `location ${opts.accelPrefix} {`).replace(/alias \S+;/, `alias ${opts.blobDir}/;`);
  // As root (CI containers), the workers would run as nobody and could not read the test's
  // private temp folders: keep them root. Unprivileged, nginx cannot switch users anyway.
  const user = process.getuid?.() === 0 ? "user root;" : "";
  const conf = `
${user}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
${parts.http}
  access_log ${dir}/access.log sf_redacted;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  sendfile on;
  upstream speedyfiles { server ${upstream}; }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
${parts.proxy}
${accel}
  }
}
`;
  await fs.writeFile(path.join(dir, "nginx.conf"), conf);
  const child: ChildProcess = spawn(NGINX, ["-p", dir, "-c", path.join(dir, "nginx.conf")], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const url = `http://127.0.0.1:${port}`;
  await until(
    async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited: ${out}`);
      return fetch(url).then(
        () => true,
        () => false,
      );
    },
    10_000,
    "nginx",
  );
  return {
    url,
    accessLog: () => fs.readFile(path.join(dir, "access.log"), "utf8").catch(() => ""),
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
