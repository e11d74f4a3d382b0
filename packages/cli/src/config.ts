import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { normaliseBaseUrl } from "@speedyfiles/sdk";
import { CliError, ExitCode } from "./exit-codes.js";

/** One saved login. */
export interface Profile {
  url: string;
  token: string;
  /** Id of the token on the server, so `sf logout` can revoke it. */
  token_id?: string;
  email?: string;
}

export interface ConfigFile {
  profiles: Record<string, Profile>;
  /**
   * Each profile's age identity (`AGE-SECRET-KEY-1…`), made by the first `sf request --encrypt`:
   * what opens the files people upload to its requests. Kept apart from the login, so `sf logout`
   * (or a new login) never loses what opens the packages already received.
   */
  identities?: Record<string, string>;
}

/** `$XDG_CONFIG_HOME/speedyfiles/config.json`, default `~/.config/speedyfiles/config.json`. */
export function configPath(env: Record<string, string | undefined>): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME || os.homedir(), ".config");
  return path.join(base, "speedyfiles", "config.json");
}

export async function readConfig(file: string, again = ""): Promise<ConfigFile> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { profiles: {} };
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as Partial<ConfigFile>;
    if (!parsed || typeof parsed !== "object" || typeof parsed.profiles !== "object" || parsed.profiles === null) throw new Error("no profiles");
    if (parsed.identities !== undefined && (typeof parsed.identities !== "object" || parsed.identities === null)) throw new Error("bad identities");
    return { profiles: parsed.profiles, ...(parsed.identities ? { identities: parsed.identities } : {}) };
  } catch {
    throw new CliError(`${file} is not a valid sf config file; fix it or delete it and run \`sf login${again}\``);
  }
}

/**
 * Writes the config with mode 0600 in a 0700 directory: written to a temp file created 0600 and
 * renamed over the old one, so the token is never readable by others, even for a moment, and a
 * crash never leaves half a file.
 */
export async function writeConfig(file: string, config: ConfigFile): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.config.json.${process.pid}.${Date.now()}.tmp`);
  const fh = await fs.open(tmp, "wx", 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(config, null, 2)}\n`, "utf8");
    await fh.chmod(0o600); // in case the umask took bits away… or a filesystem ignored the mode
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
}

export interface GlobalFlags {
  url?: string | undefined;
  profile?: string | undefined;
  timeout?: string | undefined;
  oidc?: boolean | undefined;
  oidcAudience?: string | undefined;
}

/**
 * ` --profile work --url https://…`: the global flags given on this command line, for a command
 * that a hint tells the person to run (SF_PROFILE and SF_URL stay set in their shell anyway).
 */
export function hintFlags(flags: GlobalFlags): string {
  return [flags.profile ? ` --profile ${shellWord(flags.profile)}` : "", flags.url ? ` --url ${shellWord(flags.url)}` : ""].join("");
}

/** A word a POSIX shell reads back as itself: quoted only when it needs to be. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * `--timeout <seconds>` (else `SF_TIMEOUT`) in ms, or undefined for the SDK's defaults: how long
 * an API call may wait for an answer, and how long a transfer may go without moving a byte.
 */
export function resolveTimeout(flags: GlobalFlags, env: Record<string, string | undefined>): number | undefined {
  const [raw, from] = flags.timeout !== undefined ? [flags.timeout, "--timeout"] : [env.SF_TIMEOUT, "SF_TIMEOUT"];
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || Number(raw) <= 0) {
    throw new CliError(`${from} must be a number of seconds greater than 0 (got "${raw}")`, ExitCode.USAGE);
  }
  return Math.round(Number(raw) * 1000);
}

/**
 * `SF_RETRY_WINDOW` (seconds) in ms, or undefined for the SDK's default (30 s): how long a call
 * keeps trying while the server is unavailable (a restart or a deploy). 0 turns it off.
 */
export function resolveRetryWindow(env: Record<string, string | undefined>): number | undefined {
  const raw = env.SF_RETRY_WINDOW;
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+(\.\d+)?$/.test(raw.trim())) throw new CliError(`SF_RETRY_WINDOW must be a number of seconds, 0 or more (got "${raw}")`, ExitCode.USAGE);
  return Math.round(Number(raw) * 1000);
}

/**
 * `SF_CHUNK_MIB`: the most bytes (in MiB) one request of a resumable upload carries, in bytes;
 * undefined for the SDK's default (the rest of the file in one request). For a proxy in front of
 * the server that caps request bodies (e.g. 100 MB).
 */
export function resolveChunkSize(env: Record<string, string | undefined>): number | undefined {
  const raw = env.SF_CHUNK_MIB;
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1) {
    throw new CliError(`SF_CHUNK_MIB must be a whole number of MiB, at least 1 (got "${raw}")`, ExitCode.USAGE);
  }
  return Number(raw) * 1024 * 1024;
}

/** Where the CLI talks to and as whom, after flags → SF_URL/SF_TOKEN → the config file. */
export interface Resolved {
  url: string | undefined;
  token: string | undefined;
  profileName: string;
  profile: Profile | undefined;
  /** `oidc`: no token, a CI job's OIDC ID token is exchanged for one (see `ci.ts`). */
  tokenSource: "env" | "config" | "oidc" | "none";
  urlSource: "flag" | "env" | "config" | "none";
  configFile: string;
}

export async function resolveConfig(flags: GlobalFlags, env: Record<string, string | undefined>): Promise<Resolved> {
  const configFile = configPath(env);
  const profileName = flags.profile || env.SF_PROFILE || "default";
  // CI mode: with SF_URL and SF_TOKEN both set, the config file is never read.
  const ci = !!env.SF_URL && !!env.SF_TOKEN;
  const profile = ci ? undefined : (await readConfig(configFile, hintFlags(flags))).profiles[profileName];

  let url: string | undefined;
  let urlSource: Resolved["urlSource"] = "none";
  if (flags.url) [url, urlSource] = [flags.url, "flag"];
  else if (env.SF_URL) [url, urlSource] = [env.SF_URL, "env"];
  else if (profile?.url) [url, urlSource] = [profile.url, "config"];
  if (url !== undefined) url = checkUrl(url);

  let token: string | undefined;
  let tokenSource: Resolved["tokenSource"] = "none";
  if (env.SF_TOKEN) [token, tokenSource] = [env.SF_TOKEN, "env"];
  // A saved token only goes to the server it was issued by, never to a URL from a flag or SF_URL.
  else if (profile?.token && url !== undefined && sameServer(profile.url, url)) [token, tokenSource] = [profile.token, "config"];

  return { url, token, profileName, profile, tokenSource, urlSource, configFile };
}

/**
 * A server URL, normalised. `files.example.com` or `host:8443` without a scheme is taken as
 * https (`sf login` tries http too when https does not answer).
 */
export function checkUrl(raw: string): string {
  let u: URL;
  const trimmed = raw.trim();
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`);
  } catch {
    throw new CliError(`"${raw}" is not a URL (expected something like https://files.example.com)`, ExitCode.USAGE);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new CliError(`"${raw}" is not an http(s) URL`, ExitCode.USAGE);
  if (u.username || u.password) throw new CliError("put no credentials in the server URL", ExitCode.USAGE);
  return normaliseBaseUrl(u.toString());
}

export function sameServer(a: string, b: string): boolean {
  try {
    return normaliseBaseUrl(new URL(a).toString()) === normaliseBaseUrl(new URL(b).toString());
  } catch {
    return false;
  }
}
