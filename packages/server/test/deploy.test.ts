import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { NGINX } from "./helpers/nginx.js";

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const DEPLOY = path.join(ROOT, "deploy");

/**
 * CI has no Docker: these check what can be checked without it. nginx itself parses the shipped
 * nginx.conf (and the commented X-Accel-Redirect location of the README), the compose file is the
 * topology the README describes, and the Dockerfile copies files that exist.
 */
describe("deploy/", () => {
  it("nginx.conf, with the local-disk location uncommented, is accepted by nginx -t", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-deploy-"));
    try {
      let conf = await fs.readFile(path.join(DEPLOY, "nginx.conf"), "utf8");
      expect(conf).toMatch(/client_max_body_size 0;/);
      expect(conf).toMatch(/proxy_request_buffering off;/);
      expect(conf).toMatch(/server app1:8080[^;]*;\s*server app2:8080/);
      // The compose service names do not resolve here; the commented snippet is switched on.
      conf = conf.replace(/app[12]:8080/g, "127.0.0.1:8080").replace(/^(\s*)# ?(location \/_sf_blobs\/|  internal;|  alias|  add_header|})/gm, "$1$2");
      expect(conf).toMatch(/^\s*location \/_sf_blobs\/ \{\s*internal;/m);
      conf = conf.replace("worker_processes auto;", `worker_processes auto;\npid ${dir}/nginx.pid;`).replaceAll("/var/log/nginx/", `${dir}/`);
      await fs.writeFile(path.join(dir, "nginx.conf"), conf);
      const { stderr } = await run(NGINX, ["-t", "-p", dir, "-c", path.join(dir, "nginx.conf")]);
      expect(stderr).toContain("syntax is ok");
      expect(stderr).toContain("test is successful");
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("compose.yaml: PostgreSQL, an S3-compatible store, two server processes on both, and nginx in front", async () => {
    const compose = YAML.parse(await fs.readFile(path.join(DEPLOY, "compose.yaml"), "utf8"), { merge: true });
    expect(Object.keys(compose.services).sort()).toEqual(["app1", "app2", "createbucket", "minio", "nginx", "postgres"]);
    for (const app of ["app1", "app2"]) {
      const s = compose.services[app];
      expect(s.build).toEqual({ context: "..", dockerfile: "deploy/Dockerfile" });
      expect(s.environment).toMatchObject({ SF_STORAGE: "s3", SF_S3_ENDPOINT: "http://minio:9000", SF_S3_BUCKET: "speedyfiles" });
      expect(s.environment.SF_DATABASE_URL).toMatch(/^postgres:\/\/speedyfiles:.*@postgres:5432\/speedyfiles$/);
    }
    expect(compose.services.nginx.volumes).toContain("./nginx.conf:/etc/nginx/nginx.conf:ro");
  });

  it("Dockerfile: multi-stage on node:20-slim, a non-root user, a health check on /api/v1/health, and every file it copies exists", async () => {
    const docker = await fs.readFile(path.join(DEPLOY, "Dockerfile"), "utf8");
    expect(docker.match(/^FROM node:20-slim/gm)).toHaveLength(2);
    expect(docker).toMatch(/^USER speedyfiles$/m);
    expect(docker).toMatch(/^HEALTHCHECK .*\n.*\/api\/v1\/health/m);
    for (const m of docker.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(/\s+/)) expect(await fs.stat(path.join(ROOT, src)).then(() => true, () => src)).toBe(true);
    }
  });
});
