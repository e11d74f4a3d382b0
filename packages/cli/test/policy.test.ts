// `sf admin policy show/set/clear` against the real server, and `sf send` / `sf request` /
// `sf packages extend` saying an admin policy's limit in words: before uploading a byte where sf
// can see it coming, else from the server's refusal.
import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { SpeedyFiles, type Policy } from "@speedyfiles/sdk";
import { sf, tempDir } from "./helpers.js";

describe.each(DATABASES)("sf and the admin policy (%s)", (kind) => {
  let t: TestServer;
  let work: string;
  let adminEnv: Record<string, string>;
  let small: string;
  let big: string;

  beforeAll(async () => {
    t = await startTestServer(kind);
    work = await tempDir("sf-policy-");
    const admin = await t.createUser({ role: "admin", email: "root@example.com" });
    adminEnv = { SF_URL: t.url, SF_TOKEN: admin.token, XDG_CONFIG_HOME: work, XDG_STATE_HOME: work };
    small = path.join(work, "notes.txt");
    big = path.join(work, "big.iso");
    await fs.writeFile(small, "hello\n");
    await fs.writeFile(big, Buffer.alloc(3 * 1024 * 1024, 7));
  });
  afterAll(async () => {
    await t?.close();
    await fs.rm(work, { recursive: true, force: true });
  });
  beforeEach(async () => {
    expect((await sf(["admin", "policy", "clear"], { env: adminEnv })).code).toBe(0);
  });

  async function user() {
    const u = await t.createUser();
    const env = { SF_URL: t.url, SF_TOKEN: u.token, XDG_CONFIG_HOME: work, XDG_STATE_HOME: work };
    const client = new SpeedyFiles({ baseUrl: t.url, token: u.token });
    const packages = async () => (await client.packages.list()).items;
    return { ...u, env, client, packages };
  }

  it("set, show (words and --json), role overrides, clear and its restore commands: a round trip", async () => {
    const set = await sf(
      [
        "admin",
        "policy",
        "set",
        "--max-ttl-days",
        "30",
        "--require-encryption",
        "--allowed-domains",
        "acme.com,*.acme.com",
        "--quota",
        "50GiB",
        "--max-file-size",
        "2GiB",
        "--max-recipients",
        "10",
      ],
      { env: adminEnv },
    );
    expect(set.code, set.stderr).toBe(0);
    expect(set.stderr).toContain("Policy updated: it applies to packages created or changed from now on.");

    // Only the rules named change.
    expect((await sf(["admin", "policy", "set", "--min-ttl-days", "2", "--blocked-domains", "spam.acme.com"], { env: adminEnv })).code).toBe(0);
    const admin = await sf(["admin", "policy", "set", "--role", "admin", "--quota", "none", "--max-file-size", "10GiB"], { env: adminEnv });
    expect(admin.code, admin.stderr).toBe(0);

    const show = await sf(["admin", "policy", "show"], { env: adminEnv });
    expect(show.code, show.stderr).toBe(0);
    const lines = show.stdout.split("\n");
    const row = (label: string) => lines.find((l) => l.startsWith(label))?.replace(/\s+/g, " ");
    expect(row("largest file")).toBe("largest file 2 GiB (admins: 10 GiB)");
    expect(row("storage quota")).toBe("storage quota 50 GiB per user, in draft and active packages (admins: no limit)");
    expect(row("shortest link")).toBe("shortest link at least 2 days");
    expect(row("longest link")).toBe("longest link at most 30 days");
    expect(row("link password")).toBe("link password not required");
    expect(row("encryption")).toBe("encryption end to end, required on every package");
    expect(row("sends only to")).toBe("sends only to acme.com, *.acme.com");
    expect(row("never sends to")).toBe("never sends to spam.acme.com");
    expect(row("recipients")).toBe("recipients at most 10 per package");
    expect(row("changed")).toMatch(/^changed \d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d by root@example\.com$/);

    const forAdmins = await sf(["admin", "policy", "show", "--role", "admin"], { env: adminEnv });
    expect(forAdmins.stdout).toMatch(/^Rules for admins:\n/);
    expect(forAdmins.stdout).toMatch(/storage quota\s+no limit \(admins' own rule\)/);
    expect(forAdmins.stdout).toMatch(/longest link\s+at most 30 days\n/);

    const json = JSON.parse((await sf(["admin", "policy", "show", "--json"], { env: adminEnv })).stdout) as Policy;
    expect(json.rules).toEqual({
      min_ttl_days: 2,
      max_ttl_days: 30,
      require_password: false,
      require_encryption: true,
      allowed_recipient_domains: ["acme.com", "*.acme.com"],
      blocked_recipient_domains: ["spam.acme.com"],
      max_file_bytes: 2 * 1024 ** 3,
      max_recipients: 10,
      quota_bytes_per_user: 50 * 1024 ** 3,
    });
    expect(json.roles).toEqual({ user: {}, admin: { quota_bytes_per_user: null, max_file_bytes: 10 * 1024 ** 3 } });
    expect(JSON.parse((await sf(["admin", "policy", "show", "--role", "user", "--json"], { env: adminEnv })).stdout)).toEqual({ role: "user", rules: json.rules });

    // `inherit` drops one override; `clear --role` the rest.
    expect((await sf(["admin", "policy", "set", "--role", "admin", "--max-file-size", "inherit"], { env: adminEnv })).code).toBe(0);
    expect(((await t.fetch("/admin/policy", { token: adminEnv.SF_TOKEN }).then((r) => r.json())) as Policy).roles.admin).toEqual({ quota_bytes_per_user: null });
    const clearRole = await sf(["admin", "policy", "clear", "--role", "admin"], { env: adminEnv });
    expect(clearRole.code, clearRole.stderr).toBe(0);
    expect(clearRole.stderr).toContain("sf admin policy set --role admin --quota none");

    // `clear` prints the commands that bring it back; run them: the same policy.
    const cleared = await sf(["admin", "policy", "clear"], { env: adminEnv });
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(cleared.stderr).toContain("Cleared the policy: no rules apply now. To bring it back:");
    const restore = cleared.stderr
      .split("\n")
      .filter((l) => l.startsWith("  sf admin policy set"))
      .map((l) => l.trim());
    expect(restore).toHaveLength(1);
    expect(JSON.parse((await sf(["admin", "policy", "show", "--json"], { env: adminEnv })).stdout).rules.max_ttl_days).toBeNull();
    const argv = restore[0]!.split(" ").slice(1);
    expect((await sf(argv, { env: adminEnv })).code).toBe(0);
    expect(JSON.parse((await sf(["admin", "policy", "show", "--json"], { env: adminEnv })).stdout).rules).toEqual(json.rules);

    // Clearing an empty policy changes nothing.
    await sf(["admin", "policy", "clear"], { env: adminEnv });
    const again = await sf(["admin", "policy", "clear"], { env: adminEnv });
    expect(again.stderr).toBe("The policy has no rules: nothing changed.\n");
  });

  it("refuses a user (exit 3), no token (exit 3), bad flags (exit 2) and contradicting rules (exit 5), changing nothing", async () => {
    expect((await sf(["admin", "policy", "set", "--max-recipients", "5"], { env: adminEnv })).code).toBe(0);
    const u = await user();
    const show = await sf(["admin", "policy", "show"], { env: u.env });
    expect(show.code).toBe(3);
    expect(show.stderr).toMatch(/^error: .*\(403\)\n$/);
    expect((await sf(["admin", "policy", "set", "--quota", "1GiB"], { env: u.env })).code).toBe(3);
    expect((await sf(["admin", "policy", "clear"], { env: u.env })).code).toBe(3);
    const anon = await sf(["admin", "policy", "show"], { env: { SF_URL: t.url, XDG_CONFIG_HOME: work } });
    expect(anon.code).toBe(3);
    expect(anon.stderr).toContain("not logged in");

    const usage = async (argv: string[], words: RegExp) => {
      const r = await sf(["admin", "policy", ...argv], { env: adminEnv });
      expect(r.code, `${argv.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(words);
    };
    await usage(["set"], /nothing to change: name at least one rule/);
    await usage(["set", "--quota", "lots"], /expected a size such as 2GiB/);
    await usage(["set", "--max-ttl-days", "0"], /expected a whole number from 1 to 365/);
    await usage(["set", "--max-recipients", "51"], /expected a whole number from 1 to 50/);
    await usage(["set", "--allowed-domains", "acme.com,not a domain"], /"not a domain" is not a domain/);
    await usage(["set", "--quota", "inherit"], /--quota inherit needs --role user or --role admin/);
    await usage(["set", "--role", "boss", "--quota", "1GiB"], /expected user or admin/);
    await usage(["set", "--require-password", "maybe"], /expected nothing \(required\), no/);

    const contradiction = await sf(["admin", "policy", "set", "--min-ttl-days", "10", "--max-ttl-days", "3"], { env: adminEnv });
    expect(contradiction.code).toBe(5);
    expect(contradiction.stderr).toMatch(/^error: --min-ttl-days .*above.*max_ttl_days/);
    const both = await sf(["admin", "policy", "set", "--allowed-domains", "acme.com", "--blocked-domains", "acme.com"], { env: adminEnv });
    expect(both.code).toBe(5);
    expect(both.stderr).toContain("acme.com is both allowed and blocked");
    const after = JSON.parse((await sf(["admin", "policy", "show", "--json"], { env: adminEnv })).stdout) as Policy;
    expect(after.rules).toMatchObject({ max_recipients: 5, min_ttl_days: null, max_ttl_days: null, allowed_recipient_domains: null });
  });

  // `sf send` breaking one rule: refused before any upload, in words, exit 5, nothing on the server.
  const sends: { name: string; set: string[]; argv: (f: { small: string; big: string }) => string[]; error: string }[] = [
    {
      name: "a file over the largest size",
      set: ["--max-file-size", "2MiB"],
      argv: (f) => [f.small, f.big, "--to", "cfo@acme.com"],
      error: "error: big.iso is 3.0 MiB; this server takes files up to 2 MiB (admin policy)\n",
    },
    {
      name: "files past the quota",
      set: ["--quota", "1MiB"],
      argv: (f) => [f.big, "--to", "cfo@acme.com"],
      error:
        "error: big.iso (3.0 MiB) would take you past your storage quota of 1 MiB: 0 B used, 1.0 MiB left (admin policy); delete packages you no longer need (`sf packages list`, `sf packages delete`) or ask an admin for more\n",
    },
    {
      name: "a recipient outside the allowed domains",
      set: ["--allowed-domains", "acme.com,*.acme.com"],
      argv: (f) => [f.small, "--to", "cfo@acme.com", "--to", "bob@gmail.com"],
      error: "error: bob@gmail.com is at gmail.com; this server sends only to recipients at acme.com or *.acme.com (admin policy)\n",
    },
    {
      name: "a recipient at a blocked domain",
      set: ["--blocked-domains", "gmail.com"],
      argv: (f) => [f.small, "--to", "bob@gmail.com"],
      error: "error: bob@gmail.com is at gmail.com; this server does not send to recipients at gmail.com (admin policy)\n",
    },
    {
      name: "too many recipients",
      set: ["--max-recipients", "2"],
      argv: (f) => [f.small, "--to", "a@acme.com", "--to", "b@acme.com", "--to", "c@acme.com"],
      error: "error: 3 recipients; this server takes at most 2 recipients per package (admin policy); send to at most 2 --to at once\n",
    },
    {
      name: "a link longer than the longest",
      set: ["--max-ttl-days", "30"],
      argv: (f) => [f.small, "--to", "cfo@acme.com", "--ttl", "60"],
      error: "error: a link valid for 60 days; this server keeps links at most 30 days (admin policy); give --ttl 30 or less\n",
    },
    {
      name: "a link shorter than the shortest",
      set: ["--min-ttl-days", "10"],
      argv: (f) => [f.small, "--to", "cfo@acme.com", "--ttl", "2"],
      error: "error: a link valid for 2 days; this server keeps links at least 10 days (admin policy); give --ttl 10 or more\n",
    },
    {
      name: "no password where one is required",
      set: ["--require-password"],
      argv: (f) => [f.small, "--to", "cfo@acme.com"],
      error: "error: this package has no link password; this server requires a link password on every package it sends (admin policy); add --password (or --password-stdin)\n",
    },
    {
      name: "no encryption where it is required",
      set: ["--require-encryption"],
      argv: (f) => [f.small, "--to", "cfo@acme.com"],
      error: "error: these files would not be encrypted; this server requires end-to-end encryption on every package (admin policy); add --encrypt\n",
    },
  ];

  it.each(sends)("sf send: $name is refused in words before any upload (exit 5)", async (c) => {
    expect((await sf(["admin", "policy", "set", ...c.set], { env: adminEnv })).code).toBe(0);
    const u = await user();
    const r = await sf(["send", ...c.argv({ small, big })], { env: u.env });
    expect(r.stderr).toBe(c.error);
    expect(r.code).toBe(5);
    expect(r.stdout).toBe("");
    expect(await u.packages()).toEqual([]);
  });

  it("within the rules sf send works; the default TTL follows the policy; whoami shows the quota and the rules", async () => {
    expect(
      (await sf(["admin", "policy", "set", "--max-ttl-days", "3", "--quota", "10MiB", "--max-file-size", "5MiB", "--allowed-domains", "acme.com"], { env: adminEnv })).code,
    ).toBe(0);
    const u = await user();
    const r = await sf(["send", small, big, "--to", "cfo@acme.com", "--json"], { env: u.env });
    expect(r.code, r.stderr).toBe(0);
    const sent = JSON.parse(r.stdout) as { id: string };
    expect((await u.client.packages.get(sent.id)).ttl_days).toBe(3);

    const who = await sf(["whoami"], { env: u.env });
    expect(who.code, who.stderr).toBe(0);
    expect(who.stderr).toContain("Storage: 3.0 MiB of 10 MiB used (7.0 MiB left)\n");
    expect(who.stderr).toContain("Admin policy: This server keeps links at most 3 days; sends only to recipients at acme.com; takes files up to 5 MiB.\n");
    const json = JSON.parse((await sf(["whoami", "--json"], { env: u.env })).stdout) as { policy: { quota_used_bytes: number; rules: { quota_bytes_per_user: number } } };
    expect(json.policy).toMatchObject({ quota_used_bytes: 3 * 1024 * 1024 + 6, rules: { quota_bytes_per_user: 10 * 1024 * 1024 } });

    // Without rules whoami says nothing more.
    await sf(["admin", "policy", "clear"], { env: adminEnv });
    expect((await sf(["whoami"], { env: u.env })).stderr).not.toMatch(/Storage|Admin policy/);
  });

  it("what sf cannot see coming is the server's refusal, printed with the rule in words: stdin over the largest size, extend past the longest link", async () => {
    expect((await sf(["admin", "policy", "set", "--max-file-size", "1MiB", "--max-ttl-days", "30"], { env: adminEnv })).code).toBe(0);
    const u = await user();
    // stdin's size is unknown until it is sent: the server refuses the upload.
    const piped = await sf(["send", "-", "--filename", "dump.bin", "--to", "cfo@acme.com"], { env: u.env, stdin: Buffer.alloc(2 * 1024 * 1024, 1) });
    expect(piped.code, piped.stderr).toBe(5);
    expect(piped.stderr).toMatch(/^error: [^\n]+ \(admin policy: largest file 1 MiB\)\n/);
    expect(await u.packages()).toEqual([]);

    const ok = await sf(["send", small, "--to", "cfo@acme.com", "--ttl", "10", "--json"], { env: u.env });
    expect(ok.code, ok.stderr).toBe(0);
    const id = (JSON.parse(ok.stdout) as { id: string }).id;
    const extend = await sf(["packages", "extend", id, "--days", "60"], { env: u.env });
    expect(extend.code).toBe(5);
    expect(extend.stderr).toMatch(/^error: [^\n]+ \(admin policy: longest link at most 30 days\); give --days 30 or less\n$/);
    expect((await sf(["packages", "extend", id, "--days", "30"], { env: u.env })).code).toBe(0);

    // The quota, likewise: the server's own sentence says what to do; sf adds the rule.
    expect((await sf(["admin", "policy", "set", "--max-file-size", "none", "--quota", "1MiB"], { env: adminEnv })).code).toBe(0);
    const full = await sf(["send", "-", "--filename", "more.bin", "--to", "cfo@acme.com"], { env: u.env, stdin: Buffer.alloc(2 * 1024 * 1024, 1) });
    expect(full.code, full.stderr).toBe(5);
    expect(full.stderr).toMatch(/^error: [^\n]+ \(admin policy: storage quota 1 MiB per user, in draft and active packages\)\n$/);
    expect((await u.packages()).map((p) => p.id)).toEqual([id]);
  });

  it("sf request: a domain, no encryption and a TTL out of range refused in words; within them it works", async () => {
    const u = await user();
    expect((await sf(["admin", "policy", "set", "--allowed-domains", "acme.com", "--require-encryption", "--max-ttl-days", "5"], { env: adminEnv })).code).toBe(0);
    const domain = await sf(["request", "--from", "someone@gmail.com", "--encrypt"], { env: u.env });
    expect(domain.code).toBe(5);
    // (The first --encrypt makes the profile's age identity, and says so, before the request.)
    expect(domain.stderr).toMatch(/\nerror: someone@gmail\.com is at gmail\.com; this server sends only to recipients at acme\.com \(admin policy\)\n$/);
    const plain = await sf(["request", "--from", "someone@acme.com"], { env: u.env });
    expect(plain.code).toBe(5);
    expect(plain.stderr).toBe("error: this request is not encrypted; this server requires end-to-end encryption on every package (admin policy); add --encrypt\n");
    const long = await sf(["request", "--from", "someone@acme.com", "--encrypt", "--ttl", "9"], { env: u.env });
    expect(long.code).toBe(5);
    expect(long.stderr).toContain("this server keeps links at most 5 days (admin policy); give --ttl 5 or less");
    expect(await u.packages()).toEqual([]);
    const ok = await sf(["request", "--from", "someone@acme.com", "--encrypt", "--json"], { env: u.env });
    expect(ok.code, ok.stderr).toBe(0);
    expect((await u.packages())[0]).toMatchObject({ direction: "inbound", ttl_days: 5 });
  });
});
