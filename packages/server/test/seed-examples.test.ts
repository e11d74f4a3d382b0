import { execFile } from "node:child_process";
import crypto from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { sha256 } from "@speedyfiles/test-utils/uploads";

const run = promisify(execFile);

/** The original API doc the examples come from (checked for drift when it is present). */
const SEED = fileURLToPath(new URL("../../../../shared/seeds/000_e4042cff710a8ceb.txt", import.meta.url));

// ---- The seed's "curl — full send flow", verbatim. ----
const CURL_FLOW = String.raw`TOKEN="sf_your_token_here"
HOST="https://files.example.com"

# 1. Create package
PKG=$(curl -s -X POST $HOST/api/v1/packages \
  -H "Authorization: Bearer $TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "title": "Q4 financials",
    "recipient_email": "cfo@acme.com",
    "recipient_name": "Acme CFO",
    "direction": "outbound",
    "ttl_days": 14
  }' | jq -r .id)

# 2. Upload one or more files
curl -X POST $HOST/api/v1/packages/$PKG/files \
  -H "Authorization: Bearer $TOKEN" \
  -F "file=@./Q4-report.pdf"

curl -X POST $HOST/api/v1/packages/$PKG/files \
  -H "Authorization: Bearer $TOKEN" \
  -F "file=@./Q4-spreadsheet.xlsx"

# 3. Finalize — recipient gets email, magic_link returned in response
curl -X POST $HOST/api/v1/packages/$PKG/finalize \
  -H "Authorization: Bearer $TOKEN" | jq`;

// ---- The seed's "Node.js (fetch)" example, verbatim (lines, because it uses template literals). ----
const NODE_FLOW = [
  'const API = "https://files.example.com/api/v1";',
  'const auth = { "Authorization": "Bearer sf_your_token_here" };',
  "",
  "// 1. Create package",
  "const pkg = await (await fetch(`${API}/packages`, {",
  '  method: "POST",',
  '  headers: { ...auth, "Content-Type": "application/json" },',
  "  body: JSON.stringify({",
  '    title: "Q4 financials",',
  '    recipient_email: "cfo@acme.com",',
  '    recipient_name: "Acme CFO",',
  '    direction: "outbound",',
  "    ttl_days: 14,",
  "  }),",
  "})).json();",
  "",
  "// 2. Upload a file",
  "const form = new FormData();",
  'form.append("file", new Blob([fs.readFileSync("Q4-report.pdf")]), "Q4-report.pdf");',
  "await fetch(`${API}/packages/${pkg.id}/files`, {",
  '  method: "POST", headers: auth, body: form,',
  "});",
  "",
  "// 3. Finalize",
  "const result = await (await fetch(`${API}/packages/${pkg.id}/finalize`, {",
  '  method: "POST", headers: auth,',
  "})).json();",
  'console.log("Magic link:", result.magic_link);',
].join("\n");

// ---- The seed's "Python" example, verbatim. ----
const PYTHON_FLOW = `import requests

API = "https://files.example.com/api/v1"
auth = {"Authorization": "Bearer sf_your_token_here"}

# Create package
pkg = requests.post(f"{API}/packages", headers=auth, json={
    "title": "Q4 financials",
    "recipient_email": "cfo@acme.com",
    "recipient_name": "Acme CFO",
    "direction": "outbound",
    "ttl_days": 14,
}).json()
pkg_id = pkg["id"]

# Upload files
for path in ["Q4-report.pdf", "Q4-spreadsheet.xlsx"]:
    with open(path, "rb") as f:
        requests.post(
            f"{API}/packages/{pkg_id}/files",
            headers=auth,
            files={"file": f},
        ).raise_for_status()

# Finalize
result = requests.post(f"{API}/packages/{pkg_id}/finalize", headers=auth).json()
print("Magic link:", result["magic_link"])`;

/** Replaces exactly one occurrence, so a substitution can never silently miss. */
function replaceOnce(text: string, from: string, to: string): string {
  const i = text.indexOf(from);
  if (i < 0 || text.indexOf(from, i + 1) >= 0) throw new Error(`expected exactly one "${from}"`);
  return text.slice(0, i) + to + text.slice(i + from.length);
}

/** Splits concatenated JSON documents (curl prints bodies back to back, jq pretty-prints the last). */
function jsonDocuments(out: string): unknown[] {
  const docs: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < out.length; i++) {
    const c = out[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "{" || c === "[") {
      if (depth === 0) start = i;
      depth++;
    } else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) docs.push(JSON.parse(out.slice(start, i + 1)));
    }
  }
  return docs;
}

const PUBLIC_URL = "http://files.example.test";

describe.each(DATABASES)("the seed's code examples (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let cwd: string;
  const report = crypto.randomBytes(200_000);
  const sheet = crypto.randomBytes(12_345);

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url, SF_PUBLIC_URL: PUBLIC_URL } });
    cwd = await fs.mkdtemp(path.join(os.tmpdir(), "sf-seed-"));
    await fs.writeFile(path.join(cwd, "Q4-report.pdf"), report);
    await fs.writeFile(path.join(cwd, "Q4-spreadsheet.xlsx"), sheet);
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    if (cwd) await fs.rm(cwd, { recursive: true, force: true });
  });

  it("the examples above are the seed's text, verbatim", () => {
    if (!existsSync(SEED)) return; // the seed is not shipped with the repository
    const seed = readFileSync(SEED, "utf8");
    expect(seed).toContain(CURL_FLOW);
    expect(seed).toContain(NODE_FLOW);
    expect(seed).toContain(PYTHON_FLOW);
  });

  it("runs the Python (requests) flow: both files uploaded, the magic link printed and emailed", async () => {
    const { token } = await t.createUser();
    const script = replaceOnce(replaceOnce(PYTHON_FLOW, 'API = "https://files.example.com/api/v1"', `API = "${t.api}"`), '"Bearer sf_your_token_here"', `"Bearer ${token}"`);
    const scriptPath = path.join(cwd, "send.py");
    await fs.writeFile(scriptPath, script);
    const { stdout } = await run("python3", [scriptPath], { cwd, timeout: 60_000 });
    const m = /^Magic link: (http\S*\/l\/[A-Za-z0-9_-]{43})\n$/.exec(stdout);
    expect(m, stdout).not.toBeNull();
    const list = await (await t.fetch("/packages", { token })).json();
    const pkg = await (await t.fetch(`/packages/${list.items[0].id}`, { token })).json();
    expect(pkg).toMatchObject({ status: "active", file_count: 2 });
    // requests sends the file object's path as the part's file name: the name is kept as given.
    const byName = Object.fromEntries(pkg.files.map((f: { name: string; sha256: string }) => [f.name, f.sha256]));
    expect(byName).toEqual({ "Q4-report.pdf": sha256(report), "Q4-spreadsheet.xlsx": sha256(sheet) });
    const mail = await smtp.waitForMail((x) => (x.parsed.text ?? "").includes(m![1]!));
    expect(mail.envelope.to).toEqual(["cfo@acme.com"]);
  });

  it("runs the curl flow: two files uploaded, finalized, magic link returned and emailed", async () => {
    const { token, user } = await t.createUser();
    const script = replaceOnce(replaceOnce(CURL_FLOW, 'TOKEN="sf_your_token_here"', `TOKEN="${token}"`), 'HOST="https://files.example.com"', `HOST="${t.url}"`);
    const scriptPath = path.join(cwd, "send.sh");
    await fs.writeFile(scriptPath, script);
    const { stdout } = await run("bash", [scriptPath], { cwd, timeout: 60_000, env: { ...process.env } });

    const docs = jsonDocuments(stdout) as Record<string, unknown>[];
    expect(docs).toHaveLength(3);
    const [up1, up2, fin] = docs as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    expect(up1).toMatchObject({ name: "Q4-report.pdf", size: report.length, sha256: sha256(report) });
    expect(up2).toMatchObject({ name: "Q4-spreadsheet.xlsx", size: sheet.length, sha256: sha256(sheet) });
    // The email is queued with the finalize and sent in the background (awaited below).
    expect(fin).toMatchObject({ status: "active", title: "Q4 financials", recipient_email: "cfo@acme.com", email_error: null, file_count: 2 });
    expect(["queued", "sent"]).toContain((fin.links as { mail_state: string }[])[0]!.mail_state);
    expect(fin.magic_link).toMatch(/^http:\/\/files\.example\.test\/l\/[A-Za-z0-9_-]{43}$/);
    // jq pretty-printed it, so it was valid JSON on its own
    expect(stdout.trimEnd().endsWith("}")).toBe(true);

    const pkg = await (await t.fetch(`/packages/${fin.id as string}`, { token })).json();
    expect(pkg).toMatchObject({ status: "active", file_count: 2, total_size: report.length + sheet.length, recipient_name: "Acme CFO", ttl_days: 14 });
    expect(pkg.files.map((f: { name: string; sha256: string }) => [f.name, f.sha256]).sort()).toEqual(
      [
        ["Q4-report.pdf", sha256(report)],
        ["Q4-spreadsheet.xlsx", sha256(sheet)],
      ].sort(),
    );
    for (const f of pkg.files as { id: string; name: string }[]) {
      const dl = Buffer.from(await (await t.fetch(`/packages/${fin.id as string}/files/${f.id}`, { token })).arrayBuffer());
      expect(dl.equals(f.name === "Q4-report.pdf" ? report : sheet)).toBe(true);
    }

    const mail = await smtp.waitForMail((m) => m.envelope.to.includes("cfo@acme.com") && (m.parsed.text ?? "").includes(fin.magic_link as string));
    expect(mail.parsed.subject).toContain("Q4 financials");
    expect(mail.parsed.text).toContain(user.email);
    expect(mail.parsed.text).toContain("Q4-report.pdf");
    expect(mail.parsed.text).toContain("Q4-spreadsheet.xlsx");
  });

  it("runs the Node fetch flow: prints the magic link, and the recipient is emailed it", async () => {
    const { token } = await t.createUser();
    const script =
      'import fs from "node:fs";\n' +
      replaceOnce(replaceOnce(NODE_FLOW, 'const API = "https://files.example.com/api/v1";', `const API = "${t.api}";`), '"Bearer sf_your_token_here"', `"Bearer ${token}"`);
    const scriptPath = path.join(cwd, "send.mjs");
    await fs.writeFile(scriptPath, script);
    const { stdout, stderr } = await run(process.execPath, [scriptPath], { cwd, timeout: 60_000 });
    expect(stderr).toBe("");
    const m = /^Magic link: (http\S*\/l\/[A-Za-z0-9_-]{43})\n$/.exec(stdout);
    expect(m, stdout).not.toBeNull();
    const link = m![1]!;
    expect(link.startsWith(`${PUBLIC_URL}/l/`)).toBe(true);

    const list = await (await t.fetch("/packages", { token })).json();
    expect(list.total).toBe(1);
    const pkg = await (await t.fetch(`/packages/${list.items[0].id}`, { token })).json();
    expect(pkg).toMatchObject({ status: "active", magic_link_state: "active", file_count: 1, title: "Q4 financials" });
    expect(pkg.files[0]).toMatchObject({ name: "Q4-report.pdf", size: report.length, sha256: sha256(report) });

    const mail = await smtp.waitForMail((x) => (x.parsed.text ?? "").includes(link));
    expect(mail.envelope.to).toEqual(["cfo@acme.com"]);
    expect(typeof mail.parsed.html === "string" ? mail.parsed.html : "").toContain(link);
    expect(mail.parsed.text).toMatch(/Q4-report\.pdf \(195 KiB\)/);
  });
});
