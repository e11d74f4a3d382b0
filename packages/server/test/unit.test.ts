import crypto from "node:crypto";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, S3_MAX_FILE_BYTES } from "../src/config.js";
import { partPlan } from "../src/storage/s3.js";
import { generateApiToken, generateLinkSecret, sha256Hex } from "../src/security/secrets.js";
import { hashPassword, verifyPassword } from "../src/security/passwords.js";
import { redactPath } from "../src/http/logging.js";
import { redactUrl, urlSecrets } from "../src/util/redact-url.js";

/** The ConfigError loadConfig throws for this environment (failing the test if it does not). */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

const namedVariables = (message: string) => [...new Set(message.match(/SF_[A-Z_]+/g) ?? [])].sort();

describe("loadConfig", () => {
  it("SF_ORPHAN_GRACE_HOURS is at least SF_UPLOAD_EXPIRY_HOURS + 1 (an S3 object may be as old as its upload's start); unset, a day above it", () => {
    expect(loadConfig({}).orphanGraceHours).toBeGreaterThanOrEqual(loadConfig({}).uploadExpiryHours + 1);
    expect(loadConfig({ SF_UPLOAD_EXPIRY_HOURS: "72" }).orphanGraceHours).toBe(96);
    expect(loadConfig({ SF_UPLOAD_EXPIRY_HOURS: "72", SF_ORPHAN_GRACE_HOURS: "73" }).orphanGraceHours).toBe(73);
    expect(configError({ SF_UPLOAD_EXPIRY_HOURS: "24", SF_ORPHAN_GRACE_HOURS: "24" }).message).toContain(
      "SF_ORPHAN_GRACE_HOURS must be at least SF_UPLOAD_EXPIRY_HOURS + 1 (25; got 24)",
    );
    expect(configError({ SF_ORPHAN_GRACE_HOURS: "2" }).message).toContain("(25; got 2)");
  });

  it("has working defaults for an empty environment", () => {
    const c = loadConfig({});
    const dataDir = path.resolve("./data");
    expect(c).toMatchObject({
      port: 8080,
      bind: "127.0.0.1",
      publicUrl: "http://localhost:8080",
      dataDir,
      databaseUrl: `sqlite://${path.join(dataDir, "speedyfiles.db")}`,
      adminEmail: null,
      adminPassword: null,
      logLevel: "info",
      smtpUrl: null,
      mailFrom: "SpeedyFiles <no-reply@localhost>",
      maxFileBytes: 10 * 1024 ** 3,
      maxFilesPerPackage: 10_000,
      maxPackageBytes: 50 * 1024 ** 3,
      maxTtlDays: 365,
      trustProxy: false,
      loginMaxFailuresPerIp: 20,
      loginMaxFailuresPerAccount: 10,
      loginWindowSeconds: 900,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("reads and normalises valid values", () => {
    const c = loadConfig({
      SF_PORT: " 9000 ",
      SF_PUBLIC_URL: "https://files.example.com///",
      SF_DATABASE_URL: "postgres://sf:pw@db:5432/sf",
      SF_ADMIN_EMAIL: "Admin@Example.com",
      SF_ADMIN_PASSWORD: "long enough",
      SF_LOG_LEVEL: "DEBUG",
      SF_SMTP_URL: "smtps://mail.example.com:465",
      SF_MAX_TTL_DAYS: "30",
      SF_TRUST_PROXY: "1",
      SF_LOGIN_MAX_FAILURES_PER_ACCOUNT: "5",
      SF_LOGIN_WINDOW_SECONDS: "60",
    });
    expect(c).toMatchObject({
      port: 9000,
      publicUrl: "https://files.example.com",
      databaseUrl: "postgres://sf:pw@db:5432/sf",
      adminEmail: "admin@example.com",
      adminPassword: "long enough",
      logLevel: "debug",
      smtpUrl: "smtps://mail.example.com:465",
      maxTtlDays: 30,
      trustProxy: "1",
      loginMaxFailuresPerAccount: 5,
      loginWindowSeconds: 60,
    });
  });

  it("treats empty and blank variables as unset", () => {
    expect(loadConfig({ SF_PORT: "", SF_LOG_LEVEL: "  ", SF_SMTP_URL: "" })).toMatchObject({ port: 8080, logLevel: "info", smtpUrl: null });
  });

  it.each<[string, string]>([
    ["SF_PORT", "http"],
    ["SF_PORT", "70000"],
    ["SF_PORT", "-1"],
    ["SF_PUBLIC_URL", "ftp://files.example.com"],
    ["SF_PUBLIC_URL", "files.example.com"],
    ["SF_DATABASE_URL", "mysql://localhost/sf"],
    ["SF_LOG_LEVEL", "loud"],
    ["SF_SMTP_URL", "http://mail.example.com"],
    ["SF_MAX_FILE_BYTES", "0"],
    ["SF_MAX_FILE_BYTES", "10GB"],
    ["SF_MAX_FILES_PER_PACKAGE", "1.5"],
    ["SF_MAX_PACKAGE_BYTES", "99999999999999999999"],
    ["SF_MAX_TTL_DAYS", "366"],
    ["SF_LOGIN_MAX_FAILURES_PER_IP", "0"],
    ["SF_LOGIN_MAX_FAILURES_PER_ACCOUNT", "ten"],
    ["SF_LOGIN_WINDOW_SECONDS", "86401"],
  ])("rejects %s=%j with one ConfigError naming it", (name, value) => {
    const err = configError({ [name]: value });
    expect(namedVariables(err.message)).toEqual([name]);
    expect(err.message.split("; ")).toHaveLength(1);
  });

  it("rejects an admin email that is not an email", () => {
    const err = configError({ SF_ADMIN_EMAIL: "admin", SF_ADMIN_PASSWORD: "long enough" });
    expect(namedVariables(err.message)).toEqual(["SF_ADMIN_EMAIL"]);
  });

  it("rejects a short admin password without repeating it", () => {
    const err = configError({ SF_ADMIN_EMAIL: "admin@example.com", SF_ADMIN_PASSWORD: "s3cr3t" });
    expect(namedVariables(err.message)).toEqual(["SF_ADMIN_PASSWORD"]);
    expect(err.message).not.toContain("s3cr3t");
  });

  it("needs SF_ADMIN_EMAIL and SF_ADMIN_PASSWORD together", () => {
    const envs: Record<string, string>[] = [{ SF_ADMIN_EMAIL: "admin@example.com" }, { SF_ADMIN_PASSWORD: "long enough" }];
    for (const env of envs) {
      const err = configError(env);
      expect(namedVariables(err.message)).toEqual(["SF_ADMIN_EMAIL", "SF_ADMIN_PASSWORD"]);
      expect(err.message).not.toContain("long enough");
    }
  });

  it("lists every problem in one error", () => {
    const err = configError({
      SF_PORT: "http",
      SF_LOG_LEVEL: "loud",
      SF_SMTP_URL: "mail.example.com",
      SF_MAX_TTL_DAYS: "0",
      SF_ADMIN_EMAIL: "admin@example.com",
    });
    expect(namedVariables(err.message)).toEqual(["SF_ADMIN_EMAIL", "SF_ADMIN_PASSWORD", "SF_LOG_LEVEL", "SF_MAX_TTL_DAYS", "SF_PORT", "SF_SMTP_URL"]);
    expect(err.message.split("; ")).toHaveLength(5);
  });

  it("keeps passwords in bad database and SMTP URLs out of the message", () => {
    const err = configError({ SF_DATABASE_URL: "mysql://sf:hunter2@db/sf", SF_SMTP_URL: "http://mailer:letmein@mail" });
    expect(namedVariables(err.message)).toEqual(["SF_DATABASE_URL", "SF_SMTP_URL"]);
    expect(err.message).not.toContain("hunter2");
    expect(err.message).not.toContain("letmein");
  });
});

describe("token generator", () => {
  it("makes sf_ + base64url of 32 random bytes", () => {
    for (let i = 0; i < 100; i++) {
      const token = generateApiToken();
      expect(token).toMatch(/^sf_[A-Za-z0-9_-]{43}$/);
      const bytes = Buffer.from(token.slice(3), "base64url");
      expect(bytes).toHaveLength(32);
      expect(`sf_${bytes.toString("base64url")}`).toBe(token);
    }
  });

  it("does not repeat itself, even in the 8 characters after sf_ shown as the prefix", () => {
    const tokens = Array.from({ length: 2000 }, generateApiToken);
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(new Set(tokens.map((x) => x.slice(0, 11))).size).toBe(tokens.length);
    // Every base64url character turns up somewhere: the bytes are not from a narrow range.
    expect(new Set(tokens.join("")).size).toBeGreaterThanOrEqual(64);
  });

  it("makes link secrets of 32 random bytes", () => {
    const secrets = Array.from({ length: 200 }, generateLinkSecret);
    for (const s of secrets) expect(Buffer.from(s, "base64url").toString("base64url")).toBe(s);
    expect(secrets.every((s) => s.length === 43)).toBe(true);
    expect(new Set(secrets).size).toBe(200);
  });

  it("hashes with SHA-256 in hex", () => {
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const token = generateApiToken();
    expect(sha256Hex(token)).toBe(crypto.createHash("sha256").update(token).digest("hex"));
  });
});

describe("password hashing", () => {
  it("verifies the right password and refuses others", async () => {
    const stored = await hashPassword("correct horse battery staple");
    expect(await verifyPassword("correct horse battery staple", stored)).toBe(true);
    for (const wrong of ["correct horse battery stapl", "Correct horse battery staple", "correct horse battery staple ", ""]) {
      expect(await verifyPassword(wrong, stored)).toBe(false);
    }
  });

  it("stores scrypt$N$r$p$salt$hash with a fresh salt each time", async () => {
    const [a, b] = await Promise.all([hashPassword("same password"), hashPassword("same password")]);
    expect(a).not.toBe(b);
    for (const stored of [a, b]) {
      const parts = stored.split("$");
      expect(parts).toHaveLength(6);
      const [scheme, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
      expect(scheme).toBe("scrypt");
      expect(Number(n)).toBeGreaterThanOrEqual(2 ** 15);
      expect(Math.log2(Number(n)) % 1).toBe(0);
      expect(Number(r)).toBeGreaterThanOrEqual(8);
      expect(Number(p)).toBeGreaterThanOrEqual(1);
      expect(Buffer.from(salt, "base64url").length).toBeGreaterThanOrEqual(16);
      expect(Buffer.from(hash, "base64url").length).toBeGreaterThanOrEqual(32);
      expect(stored).not.toContain("same password");
    }
    expect(a.split("$")[4]).not.toBe(b.split("$")[4]);
  });

  it("verifies hashes made with other parameters, so the cost can be raised later", async () => {
    const salt = crypto.randomBytes(16);
    const key = crypto.scryptSync("older password", salt, 32, { N: 1024, r: 8, p: 1 });
    const stored = `scrypt$1024$8$1$${salt.toString("base64url")}$${key.toString("base64url")}`;
    expect(await verifyPassword("older password", stored)).toBe(true);
    expect(await verifyPassword("other password", stored)).toBe(false);
  });

  it("treats composed and decomposed accents as the same password", async () => {
    const stored = await hashPassword("caf\u00e9 au lait"); // é as one code point
    expect(await verifyPassword("cafe\u0301 au lait", stored)).toBe(true); // e + combining accent
  });

  it("refuses anything that is not one of its hashes", async () => {
    for (const stored of ["", "plain text", "bcrypt$2b$10$abc", "scrypt$1024$8$1$salt"]) {
      expect(await verifyPassword("anything", stored)).toBe(false);
    }
  });
});

describe("redactPath", () => {
  it.each([
    ["/l/q3Yx0f9V2m1LkQp8sWcZr5tNhGd7uJe6iBo4F2eTjAb", "/l/[redacted]"],
    ["/l/q3Yx0f9V2m1LkQp8sWcZr5tNhGd7uJe6iBo4F2eTjAb/download?file=1", "/l/[redacted]/download?file=1"],
    ["/api/v1/links/q3Yx0f9V2m1LkQp8/files/abc", "/api/v1/links/[redacted]/files/abc"],
    ["/api/v1/me?token=sf_abc&page=2", "/api/v1/me?token=[redacted]&page=2"],
    ["/api/v1/me?page=2&access_token=sf_abc", "/api/v1/me?page=2&access_token=[redacted]"],
    ["/x?TOKEN=sf_abc#top", "/x?TOKEN=[redacted]#top"],
    ["/download?link=q3Yx0f9V", "/download?link=[redacted]"],
  ])("redacts %s", (input, expected) => {
    expect(redactPath(input)).toBe(expected);
  });

  it.each(["/api/v1/me/tokens/3f0c1c36-8a55-4a7b-9a39-0b6f5c1e2a11", "/api/v1/admin/users?q=links&page=2", "/api/v1/health"])("leaves %s as it is", (input) => {
    expect(redactPath(input)).toBe(input);
  });
});

describe("redactUrl", () => {
  it("hides the password and password-like query parameters, keeps the rest", () => {
    expect(redactUrl("postgres://sf:hunter2@db.example.test:5432/sf?sslmode=require")).toBe("postgres://sf:***@db.example.test:5432/sf?sslmode=require");
    expect(redactUrl("postgres://sf@db.example.test/sf?password=hunter2&sslmode=require")).toBe("postgres://sf@db.example.test/sf?password=***&sslmode=require");
    expect(redactUrl("smtp://mail.example.test:25")).toBe("smtp://mail.example.test:25");
  });

  it("hides a query parameter's whole value, '#' and what follows included", () => {
    expect(redactUrl("postgres://u@h/db?password=ab#cd")).toBe("postgres://u@h/db?password=***");
    expect(redactUrl("postgres://u@h/db?sslmode=require&password=ab#cd&x=1")).toBe("postgres://u@h/db?sslmode=require&password=***&x=1");
    // A '#' before the query: a parser takes the rest for a fragment, but it is printed redacted all the same.
    expect(redactUrl("postgres://u@h/db#frag?password=ab#cd")).toBe("postgres://u@h/db#frag?password=***");
    for (const url of ["postgres://u@h/db?password=ab#cd", "postgres://u@h/db#x?password=ab#cd"]) {
      expect(redactUrl(url)).not.toContain("cd");
      // Both what is written and what a URL parser would read (up to '#') are scrubbed from messages.
      expect(urlSecrets(url)).toEqual(expect.arrayContaining(["ab#cd", "ab"]));
    }
  });
});

describe("loadConfig: storage", () => {
  const S3 = { SF_STORAGE: "s3", SF_S3_BUCKET: "speedyfiles" };

  it("is local disk by default, S3 with a bucket and the AWS default credential chain when no keys are given", () => {
    expect(loadConfig({})).toMatchObject({ storage: "local", s3: null, accelRedirect: null });
    expect(loadConfig(S3)).toMatchObject({
      storage: "s3",
      s3: {
        bucket: "speedyfiles",
        region: "us-east-1",
        endpoint: null,
        forcePathStyle: false,
        accessKeyId: null,
        secretAccessKey: null,
        prefix: "",
        presignDownloads: false,
        presignSeconds: 300,
      },
    });
    expect(
      loadConfig({
        ...S3,
        SF_S3_ENDPOINT: "http://minio:9000/",
        SF_S3_FORCE_PATH_STYLE: "true",
        SF_S3_ACCESS_KEY_ID: "AKIA",
        SF_S3_SECRET_ACCESS_KEY: "secret",
        SF_S3_PREFIX: "sf/blobs/",
        SF_S3_PRESIGN_DOWNLOADS: "yes",
        SF_S3_PRESIGN_SECONDS: "60",
      }).s3,
    ).toMatchObject({ endpoint: "http://minio:9000", forcePathStyle: true, accessKeyId: "AKIA", prefix: "sf/blobs/", presignDownloads: true, presignSeconds: 60 });
    expect(loadConfig({ SF_ACCEL_REDIRECT: "/_sf_blobs/" }).accelRedirect).toBe("/_sf_blobs/");
  });

  it.each([
    [{ SF_STORAGE: "nfs" }, ["SF_STORAGE"]],
    [{ SF_STORAGE: "s3" }, ["SF_S3_BUCKET", "SF_STORAGE"]],
    [{ ...S3, SF_S3_BUCKET: "Not_A_Bucket" }, ["SF_S3_BUCKET"]],
    [{ ...S3, SF_S3_ENDPOINT: "minio:9000" }, ["SF_S3_ENDPOINT"]],
    [{ ...S3, SF_S3_SECRET_ACCESS_KEY: "hush-hush" }, ["SF_S3_ACCESS_KEY_ID", "SF_S3_SECRET_ACCESS_KEY"]],
    [{ ...S3, SF_S3_PREFIX: "/abs//path" }, ["SF_S3_PREFIX"]],
    [{ ...S3, SF_S3_PREFIX: "sf/../other/" }, ["SF_S3_PREFIX"]],
    [{ ...S3, SF_S3_PREFIX: "../" }, ["SF_S3_PREFIX"]],
    [{ ...S3, SF_S3_PREFIX: "a/./b/" }, ["SF_S3_PREFIX"]],
    [{ SF_S3_PRESIGN_DOWNLOADS: "true" }, ["SF_ACCEL_REDIRECT", "SF_S3_PRESIGN_DOWNLOADS", "SF_STORAGE"]],
    [{ SF_S3_BUCKET: "speedyfiles", SF_S3_PRESIGN_DOWNLOADS: "true" }, ["SF_ACCEL_REDIRECT", "SF_S3_PRESIGN_DOWNLOADS", "SF_STORAGE"]],
    [{ ...S3, SF_S3_PRESIGN_SECONDS: "604801" }, ["SF_S3_PRESIGN_SECONDS"]],
    [{ ...S3, SF_S3_FORCE_PATH_STYLE: "maybe" }, ["SF_S3_FORCE_PATH_STYLE"]],
    [{ SF_ACCEL_REDIRECT: "_sf_blobs" }, ["SF_ACCEL_REDIRECT"]],
    // 10,000 parts of at most 64 MiB: a larger limit would need parts too big to hold in memory.
    [{ ...S3, SF_MAX_FILE_BYTES: String(Number.MAX_SAFE_INTEGER) }, ["SF_MAX_FILE_BYTES", "SF_STORAGE"]],
    [{ ...S3, SF_ACCEL_REDIRECT: "/_sf_blobs/" }, ["SF_ACCEL_REDIRECT", "SF_S3_PRESIGN_DOWNLOADS", "SF_STORAGE"]],
  ] as [Record<string, string>, string[]][])("rejects %j, naming %j in one line", (env, names) => {
    const err = configError(env);
    expect([...new Set(err.message.match(/SF_[A-Z0-9_]+/g))].sort()).toEqual(names);
    expect(err.message.split("; ")).toHaveLength(1);
    expect(err.message).not.toContain("hush-hush");
  });
});

describe("S3 multipart plan", () => {
  it("keeps memory per upload bounded whatever the file size limit, and every allowed file within 10,000 parts", () => {
    const MiB = 1024 * 1024;
    expect(partPlan(10 * 1024 ** 3)).toEqual({ partSize: 8 * MiB, queueSize: 4 });
    for (const limit of [1, 10 * 1024 ** 3, 100 * 1024 ** 3, S3_MAX_FILE_BYTES]) {
      const { partSize, queueSize } = partPlan(limit);
      expect(partSize * 10_000).toBeGreaterThanOrEqual(limit);
      expect((queueSize + 1) * partSize).toBeLessThanOrEqual(192 * MiB);
    }
  });
});

describe("trust-policy condition globs", () => {
  it("`*` stays within a segment, `**` crosses `/`, everything else is literal", async () => {
    const { matchesCondition } = await import("../src/oidc/glob.js");
    const sub = "repo:acme/app:ref:refs/heads/*";
    expect(matchesCondition(sub, "repo:acme/app:ref:refs/heads/main")).toBe(true);
    expect(matchesCondition(sub, "repo:acme/app:ref:refs/heads/")).toBe(true);
    expect(matchesCondition(sub, "repo:acme/app:ref:refs/heads/feature/x")).toBe(false);
    expect(matchesCondition("repo:acme/app:ref:refs/heads/**", "repo:acme/app:ref:refs/heads/feature/x")).toBe(true);
    expect(matchesCondition("repo:acme/*:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/main")).toBe(true);
    expect(matchesCondition("repo:acme/*:ref:refs/heads/main", "repo:acme/a/b:ref:refs/heads/main")).toBe(false);
    // Exact values: regexp characters and `?` mean themselves; the whole value must match.
    expect(matchesCondition("a.b", "axb")).toBe(false);
    expect(matchesCondition("a?c", "abc")).toBe(false);
    expect(matchesCondition("a?c", "a?c")).toBe(true);
    expect(matchesCondition("main", "refs/heads/main")).toBe(false);
    expect(matchesCondition("v1.*", "v1.2")).toBe(true);
    expect(matchesCondition("v1.*", "v1x2")).toBe(false);
    expect(matchesCondition("(a|b)*", "(a|b)zz")).toBe(true);
    expect(matchesCondition("(a|b)*", "a")).toBe(false);
  });
});
