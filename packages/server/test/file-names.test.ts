import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkFileName } from "../src/services/file-names.js";
import { nameClashes } from "../src/util/name-key.js";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { createPackage, filesUnder, uploadFile, uploadRaw } from "@speedyfiles/test-utils/uploads";
import { requestFiles, uploadToLink } from "@speedyfiles/test-utils/links";
import { expectValidationError } from "@speedyfiles/test-utils/expect";

/** Names a recipient on Windows could not extract: refused, never renamed. */
const WINDOWS_UNSAFE: [label: string, name: string, reason: RegExp][] = [
  ["reserved device name", "CON", /reserve/i],
  ["reserved name, lower case", "nul", /reserve/i],
  ["reserved name with an extension", "nul.txt", /reserve/i],
  ["reserved name with two extensions, in a folder, mixed case", "sub/Con.tar.gz", /reserve/i],
  ["reserved name as a folder", "aux/readme.md", /reserve/i],
  ["PRN", "Prn.pdf", /reserve/i],
  ["COM1", "com1", /reserve/i],
  ["COM9 with an extension", "docs/COM9.log", /reserve/i],
  ["LPT1", "LPT1.txt", /reserve/i],
  ["LPT9 as a folder", "lpt9/x", /reserve/i],
  ["COM superscript one", "COM\u00b9.txt", /reserve/i],
  ["reserved name before spaces and an extension", "NUL .txt", /reserve/i],
  ["less-than", "a<b", /not allow|character/i],
  ["greater-than", "a>b.txt", /not allow|character/i],
  ["colon", "note: draft.txt", /not allow|character/i],
  // one letter and a colon is a drive on Windows: the older drive-letter rule answers first
  ["colon after one letter", "a:b", /drive letter/i],
  ["colon in a folder", "dir/x:y/z.txt", /not allow|character/i],
  ["double quote", 'say "hi".txt', /not allow|character/i],
  ["pipe", "a|b", /not allow|character/i],
  ["question mark", "why?.txt", /not allow|character/i],
  ["asterisk", "*.txt", /not allow|character/i],
  ["trailing dot", "report.", /dot or a space/i],
  ["trailing dots", "report..", /dot or a space/i],
  ["folder with a trailing dot", "dir./x.txt", /dot or a space/i],
  ["trailing space", "report.pdf ", /dot or a space/i],
  ["folder with a trailing space", "dir /x", /dot or a space/i],
];

/** Close to the refused ones, but fine everywhere. */
const FINE = [
  "console.log",
  "CONTRIBUTING.md",
  "nullable.ts",
  "com10.txt",
  "lpt0",
  "COM",
  "my con.txt",
  "a.con",
  "aux-files/notes.txt",
  "sub/prn_setup.exe",
  "..hidden",
  "a..b.txt",
  " leading space.txt",
  ".gitignore",
  "report v2 (final).pdf",
  "résumé «final» 100%.pdf",
  "日本語/ファイル.txt",
  "dir.d/file",
];

describe("checkFileName: names Windows cannot extract", () => {
  it.each(WINDOWS_UNSAFE)("refuses %s (%j)", (_label, name, reason) => {
    const r = checkFileName(name);
    expect(r.ok, name).toBe(false);
    if (!r.ok) {
      expect(r.reason).toMatch(reason);
      // A sentence a person understands, naming the problem in Windows terms.
      expect(r.reason).toMatch(/Windows|drive letter/);
    }
  });

  it.each(FINE)("accepts %j", (name) => {
    expect(checkFileName(name)).toEqual({ ok: true, name: name.normalize("NFC") });
  });

  it("keeps the earlier rules and their messages", () => {
    expect(checkFileName("../x")).toMatchObject({ ok: false, reason: expect.stringMatching(/\.\./) });
    expect(checkFileName("C:/x")).toMatchObject({ ok: false, reason: expect.stringMatching(/drive letter/) });
    expect(checkFileName("a\\b")).toMatchObject({ ok: false, reason: expect.stringMatching(/backslash/) });
    expect(checkFileName("/etc/passwd")).toMatchObject({ ok: false, reason: expect.stringMatching(/relative/) });
    expect(checkFileName("a//b")).toMatchObject({ ok: false, reason: expect.stringMatching(/empty/) });
    expect(checkFileName("a/ /b")).toMatchObject({ ok: false, reason: expect.stringMatching(/blank/) });
    expect(checkFileName("a\u0000b")).toMatchObject({ ok: false, reason: expect.stringMatching(/control/) });
  });

  it("refuses the characters a title refuses (one set, util/forbidden-characters.ts): bidi overrides, isolates and marks", () => {
    for (const c of ["\u202e", "\u2066", "\u200e", "\u200f", "\u061c"]) {
      expect(checkFileName(`invoice${c}fdp.exe`), JSON.stringify(c)).toMatchObject({ ok: false, reason: expect.stringMatching(/control/) });
    }
    expect(checkFileName("caf\u00e9 \u05e9\u05dc\u05d5\u05dd.txt")).toMatchObject({ ok: true });
  });
});

describe("checkFileName counts bytes as UTF-8 (the recipient page runs it too, without Buffer)", () => {
  it("a segment of 255 bytes passes, 256 does not; a lone surrogate counts as the 3 bytes it becomes", () => {
    expect(checkFileName(`${"é".repeat(127)}a`)).toMatchObject({ ok: true });
    expect(checkFileName("é".repeat(128))).toMatchObject({ ok: false, reason: expect.stringMatching(/255 bytes/) });
    expect(checkFileName(`${"\ud800".repeat(85)}`)).toMatchObject({ ok: true });
    expect(checkFileName(`${"\ud800".repeat(85)}a`)).toMatchObject({ ok: false, reason: expect.stringMatching(/255 bytes/) });
    expect(checkFileName(`${"a/".repeat(512)}b`)).toMatchObject({ ok: false, reason: expect.stringMatching(/1024 bytes/) });
  });
});

describe("nameClashes: names one folder on a recipient's disk cannot hold together", () => {
  it("equal but for case or normalization, a file where another needs a folder; every name of a clash is named", () => {
    const clashes = nameClashes(["a.txt", "caf\u00e9.txt", "cafe\u0301.txt", "Report.PDF", "report.pdf", "dir", "dir/Sub/x.txt", "other/dir", "ok/b.txt"]);
    expect(Object.fromEntries(clashes)).toEqual({
      "cafe\u0301.txt": "caf\u00e9.txt",
      "caf\u00e9.txt": "cafe\u0301.txt",
      "report.pdf": "Report.PDF",
      "Report.PDF": "report.pdf",
      "dir/Sub/x.txt": "dir",
      dir: "dir/Sub/x.txt",
    });
    expect(nameClashes(["DIR/a", "dir/b", "dir2", "dir2.txt"]).size).toBe(0);
    expect(Object.fromEntries(nameClashes(["A/b", "a"]))).toEqual({ "A/b": "a", a: "A/b" });
  });
});

describe.each(DATABASES)("uploading a name Windows cannot extract (%s)", (kind) => {
  let t: TestServer;
  let token: string;

  beforeAll(async () => {
    t = await startTestServer(kind);
    token = (await t.createUser()).token;
  });
  afterAll(async () => {
    await t?.close();
  });

  const stored = async () => ({
    rows: Number((await t.running.services.db("files").count<{ n: number | string }[]>({ n: "*" }))[0]!.n),
    blobs: await filesUnder(path.join(t.dataDir, "blobs")),
    tmp: await filesUnder(path.join(t.dataDir, "tmp")),
  });

  it("owner upload: 422 with a clear detail, nothing stored", async () => {
    const pkg = await createPackage(t, token);
    const before = await stored();
    for (const name of ["nul.txt", "sub/Con.tar.gz", "a:b", "a|b", "report.", "dir /x"]) {
      const body = await expectValidationError(await uploadRaw(t, token, pkg.id, `filename*=UTF-8''${encodeURIComponent(name)}`, "bytes"), "/body/file");
      expect(body.detail, name).toMatch(/Windows|drive letter/);
    }
    // fetch's own FormData encoding too
    await expectValidationError(await uploadFile(t, token, pkg.id, "LPT1.txt", "bytes"), "/body/file");
    expect(await stored()).toEqual({ ...before, tmp: [] });
    expect((await (await t.fetch(`/packages/${pkg.id}`, { token })).json()).file_count).toBe(0);
  });

  it("inbound-link upload: 422, nothing stored", async () => {
    const link = await requestFiles(t, token);
    const before = await stored();
    const body = await expectValidationError(await uploadToLink(link.api, "scans/COM3.pdf", "bytes"), "/body/file");
    expect(body.detail).toMatch(/Windows/);
    expect(await stored()).toEqual({ ...before, tmp: [] });
  });
});
