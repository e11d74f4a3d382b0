import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { NGINX, deployNginxParts, startNginx, type TestNginx } from "@speedyfiles/test-utils/nginx";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { shareFiles } from "@speedyfiles/test-utils/links";

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const DEPLOY = path.join(ROOT, "deploy");

/**
 * CI has no Docker: these check what can be checked without it. nginx itself parses the shipped
 * nginx.conf (and the commented X-Accel-Redirect location of docs/deployment.md), the compose file
 * is the topology docs/deployment.md describes, and the Dockerfile copies files that exist.
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
      conf = conf.replace(/app[12]:8080/g, "127.0.0.1:8080").replace(/^(\s*)# ?(location \/_sf_blobs\/|  internal;|  alias|  add_header|  etag|})/gm, "$1$2");
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

  it("nginx.conf: X-Forwarded-For is the client's address only, the local-disk location keeps our ETag, the access log redacts links; docs/deployment.md shows the same location", async () => {
    const conf = await fs.readFile(path.join(DEPLOY, "nginx.conf"), "utf8");
    expect(conf).toContain("proxy_set_header X-Forwarded-For $remote_addr;");
    expect(conf).not.toContain("$proxy_add_x_forwarded_for");
    expect(conf).toMatch(/^\s*access_log \S+ sf_redacted;/m);
    const { accel } = await deployNginxParts();
    expect(accel).toMatch(/^\s*etag off;/m);
    expect(accel).toMatch(/^\s*add_header ETag \$upstream_http_etag always;/m);
    const guide = await fs.readFile(path.join(ROOT, "docs/deployment.md"), "utf8");
    const snippet = guide.match(/```nginx\n(location \/_sf_blobs\/ \{[\s\S]*?\n\})\n```/)?.[1];
    expect(snippet).toBeDefined();
    const directives = (text: string) =>
      text
        .split("\n")
        .map((l) => l.replace(/#.*$/, "").trim())
        .filter(Boolean);
    expect(directives(snippet!)).toEqual(directives(accel));
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

  it("Dockerfile: multi-stage on node:24-slim, a non-root user, a health check on /api/v1/health, and every file it copies exists", async () => {
    const docker = await fs.readFile(path.join(DEPLOY, "Dockerfile"), "utf8");
    expect(docker.match(/^FROM node:24-slim/gm)).toHaveLength(2);
    expect(docker).toMatch(/^USER speedyfiles$/m);
    expect(docker).toMatch(/^HEALTHCHECK .*\n.*\/api\/v1\/health/m);
    for (const m of docker.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(/\s+/))
        expect(
          await fs.stat(path.join(ROOT, src)).then(
            () => true,
            () => src,
          ),
        ).toBe(true);
    }
  });
});

describe.each(DATABASES)("deploy/nginx.conf through a real nginx (%s)", (kind) => {
  let t: TestServer;
  let nginx: TestNginx;
  beforeAll(async () => {
    // As in compose.yaml: the server trusts the proxy in front of it (here on loopback).
    t = await startTestServer(kind, {
      env: { SF_TRUST_PROXY: "loopback", SF_LOGIN_MAX_FAILURES_PER_IP: "3", SF_LOGIN_MAX_FAILURES_PER_ACCOUNT: "100" },
    });
    nginx = await startNginx({ upstream: t.url, accelPrefix: "/_sf_blobs/", blobDir: path.join(t.dataDir, "blobs") });
  });
  afterAll(async () => {
    await nginx?.stop();
    await t?.close();
  });

  it("a client cannot pick its own address for the per-address login limit by sending X-Forwarded-For", async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const res = await fetch(`${nginx.url}/api/v1/auth/token`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Forwarded-For": `10.0.0.${i}` },
        body: JSON.stringify({ email: `nobody${i}@example.com`, password: "wrong password", name: "x" }),
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
  });

  it("the access log never holds a magic link's secret", async () => {
    const alice = await t.createUser();
    const s = await shareFiles(t, alice.token, [["a.txt", "hello"]]);
    for (const p of [`/l/${s.secret}`, `/api/v1/links/${s.secret}`, `/api/v1/links/${s.secret}/files/${s.files[0]!.id}`]) {
      const res = await fetch(`${nginx.url}${p}`, { headers: { Referer: `${nginx.url}/l/${s.secret}` } });
      await res.arrayBuffer();
      expect(res.status).toBe(200);
    }
    const log = await nginx.accessLog();
    expect(log).toContain("GET /l/[redacted] HTTP/1.1");
    expect(log).toContain(`GET /api/v1/links/[redacted]/files/${s.files[0]!.id} HTTP/1.1`);
    expect(log).toContain(`"${nginx.url}/l/[redacted]"`);
    expect(log).not.toContain(s.secret);
  });
});
