import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { closedPort } from "./process.js";
import { until } from "./uploads.js";

export const NGINX = process.env.SF_TEST_NGINX ?? "/usr/sbin/nginx";

export interface TestNginx {
  url: string;
  stop(): Promise<void>;
}

/**
 * A real nginx on a loopback port in front of `upstream`, configured as the README's snippet
 * says: proxying everything, unbuffered, with the `internal` location SF_ACCEL_REDIRECT points at
 * (`accelPrefix`, an alias of `blobDir`).
 */
export async function startNginx(opts: { upstream: string; accelPrefix: string; blobDir: string }): Promise<TestNginx> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-nginx-"));
  const port = await closedPort();
  const upstream = new URL(opts.upstream).host;
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
  access_log off;
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
    location / {
      proxy_pass http://speedyfiles;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_request_buffering off;
      proxy_buffering off;
    }
    location ${opts.accelPrefix} {
      internal;
      alias ${opts.blobDir}/;
      add_header X-Content-Type-Options nosniff always;
      add_header Content-Security-Policy $upstream_http_content_security_policy always;
    }
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
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
