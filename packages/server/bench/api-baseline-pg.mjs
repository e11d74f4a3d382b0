// The bare baseline for authenticated API calls on PostgreSQL, as ../../../shared/bench/api-baseline.mjs
// is for SQLite: Express (the project's own) answering GET /api/v1/me after hashing the bearer
// token with SHA-256 and looking it up with one prepared pg query (the project's own pg, a pool
// of 10 as our server uses). argv: root, port, token, database URL
import crypto from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
const [root, port, token, url] = process.argv.slice(2);
const require = createRequire(path.resolve(root, "packages/server/package.json"));
const express = require("express");
const pg = require("pg");
const pool = new pg.Pool({ connectionString: url, max: 10 });
await pool.query("create table if not exists t (hash text primary key, email text, role text)");
await pool.query("insert into t values ($1, $2, $3) on conflict do nothing", [crypto.createHash("sha256").update(token).digest("hex"), "a@b.co", "admin"]);
const app = express();
app.get("/api/v1/me", async (req, res) => {
  const m = /^Bearer (.+)$/.exec(req.get("authorization") || "");
  const r = m && (await pool.query({ name: "me", text: "select email, role from t where hash = $1", values: [crypto.createHash("sha256").update(m[1]).digest("hex")] }));
  const row = r?.rows[0];
  if (!row) return res.status(401).json({ detail: "Invalid token" });
  res.json({ id: "1", email: row.email, role: row.role });
});
app.listen(Number(port), "127.0.0.1");
