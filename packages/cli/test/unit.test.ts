import { describe, expect, it } from "vitest";
import { AuthenticationError, NotFoundError, ConflictError, ValidationError, AbortError, NetworkError } from "@speedyfiles/sdk";
import { describeError, exitCodeFor, CliError, UsageError } from "../src/exit-codes.js";
import { safeFilePath as safeJoin } from "@speedyfiles/sdk";
import { parseMagicLink } from "../src/commands/download.js";
import { tokenName } from "../src/commands/auth.js";
import { configPath } from "../src/config.js";
import { formatBytes } from "../src/output.js";
import { sf } from "./helpers.js";

const api = (Cls: typeof AuthenticationError, status: number) => new Cls({ status, detail: "nope", method: "GET", url: "http://x/api/v1/me" });

describe("exit codes", () => {
  it("maps each failure class", () => {
    expect(exitCodeFor(api(AuthenticationError, 401))).toBe(3);
    expect(exitCodeFor(api(NotFoundError, 404))).toBe(4);
    expect(exitCodeFor(api(ConflictError, 409))).toBe(5);
    expect(exitCodeFor(api(ValidationError, 422))).toBe(5);
    expect(exitCodeFor(new AbortError("x"))).toBe(130);
    expect(exitCodeFor(new NetworkError("x"))).toBe(1);
    expect(exitCodeFor(new UsageError("x"))).toBe(2);
    expect(exitCodeFor(new CliError("x"))).toBe(1);
    expect(exitCodeFor(new Error("x"))).toBe(1);
  });
  it("a 401 hints at sf login, or at SF_TOKEN when that is the source", () => {
    expect(describeError(api(AuthenticationError, 401))).toBe("nope (401) — run `sf login`");
    expect(describeError(api(AuthenticationError, 401), { tokenSource: "env" })).toContain("SF_TOKEN");
  });
  it("a connection the server closed reads as words, not undici's code (seen when the server was killed mid-send)", () => {
    const closed = Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" });
    const err = new NetworkError("upload of a.bin: UND_ERR_SOCKET", { cause: closed, url: "http://127.0.0.1:8080/api/v1/packages/x/files" });
    expect(describeError(err)).toBe(
      "cannot reach the SpeedyFiles server at http://127.0.0.1:8080 (connection closed) — check the URL (--url, SF_URL or `sf login`) and your network",
    );
    // The same, met while writing an upload's body (seen under load with the server killed mid-send).
    const pipe = Object.assign(new Error("write EPIPE"), { code: "EPIPE", syscall: "write" });
    expect(describeError(new NetworkError("upload of a.bin: EPIPE", { cause: pipe, url: "http://127.0.0.1:8080/api/v1/packages/x/uploads/u" }))).toContain("(connection closed)");
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    expect(describeError(new NetworkError("x", { cause: refused, url: "http://127.0.0.1:8080/api/v1/me" }))).toContain("(ECONNREFUSED)");
  });
  it("help lists the exit codes; --version prints the version; `sf` alone prints the help and exits 0", async () => {
    const help = await sf(["help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Exit codes:");
    expect(help.stdout).toMatch(/130\s+interrupted/);
    const v = await sf(["--version"]);
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect((await sf([])).code).toBe(0);
    const unknown = await sf(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
  });
  it("completion scripts for bash, zsh and fish", async () => {
    const bash = await sf(["completion", "bash"]);
    expect(bash.stdout).toContain("complete -o filenames -F _sf_complete sf");
    expect(bash.stdout).toContain("--concurrency");
    expect((await sf(["completion", "zsh"])).stdout).toContain("bashcompinit");
    expect((await sf(["completion", "fish"])).stdout).toContain("complete -c sf");
    expect((await sf(["completion", "tcsh"])).code).toBe(2);
  });
});

describe("download paths", () => {
  it("keeps relative paths and refuses anything that could escape the directory", () => {
    expect(safeJoin("/tmp/o", "a/b.txt")).toBe("/tmp/o/a/b.txt");
    for (const bad of ["../x", "a/../../x", "/etc/passwd", "a//b", "a\\..\\b", "./a", "", "a\nb", "C:/x"]) {
      expect(() => safeJoin("/tmp/o", bad), bad).toThrow(/not a safe relative path/);
    }
  });
  it("recognises magic links", () => {
    const secret = "A".repeat(43);
    expect(parseMagicLink(`https://f.example.com/l/${secret}`)).toEqual({ secret, base: "https://f.example.com" });
    expect(parseMagicLink(secret)).toEqual({ secret });
    expect(parseMagicLink("3f0c4a9e-1111-4222-8333-444455556666")).toBeUndefined();
  });
});

describe("small helpers", () => {
  it("token names, config path, sizes", () => {
    expect(tokenName("laptop")).toBe("sf on laptop");
    expect(tokenName("x".repeat(200))).toHaveLength(100);
    expect(configPath({ XDG_CONFIG_HOME: "/c", HOME: "/h" })).toBe("/c/speedyfiles/config.json");
    expect(configPath({ HOME: "/h" })).toBe("/h/.config/speedyfiles/config.json");
    expect(configPath({ XDG_CONFIG_HOME: "relative", HOME: "/h" })).toBe("/h/.config/speedyfiles/config.json");
    expect(formatBytes(1536)).toBe("1.5 KiB");
  });
});

describe("a page that is not a SpeedyFiles answer", () => {
  it("is named, with the URL, and points at the URL setting", async () => {
    const { UnexpectedResponseError } = await import("@speedyfiles/sdk");
    const err = new UnexpectedResponseError({ status: 200, contentType: "text/html; charset=utf-8", method: "GET", url: "https://portal.example/api/v1/me?x=1" });
    expect(describeError(err)).toBe("not a SpeedyFiles server? got text/html from https://portal.example/api/v1/me (HTTP 200) — check the URL (--url, SF_URL or `sf login`)");
    expect(exitCodeFor(err)).toBe(1);
  });
});
