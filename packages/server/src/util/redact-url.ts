/** Query parameters that hold secrets (pg and nodemailer accept a password as a parameter). */
const SECRET_PARAM = /pass|secret|key|token|cert/i;

/**
 * A URL cut into its parts the way the database and mail drivers' users mean them: the
 * credentials end at the *last* `@` before the host, so a password with a raw `@`, `/` or `#`
 * (which a WHATWG URL parser would split elsewhere) stays whole. Parsed by position, never by
 * pattern; the query by its `&` and `=`.
 */
interface UrlParts {
  /** `postgres://`. */
  scheme: string;
  user: string | undefined;
  /** The password as written (percent-encoded or not); undefined when there is none. */
  password: string | undefined;
  /** Host and path (with a `#…` when the URL has no query). */
  hostAndPath: string;
  /**
   * The query's `name=value` pairs as written, in order: everything after the first `?`, a `#`
   * included. A parser would cut a fragment at the `#`, but a password written with one
   * (`?password=ab#cd`) must be hidden whole, so no fragment is cut from a query.
   */
  query: [name: string, value: string | undefined][] | undefined;
}

function parseUrl(url: string): UrlParts | undefined {
  const sep = url.indexOf("://");
  if (sep <= 0) return undefined;
  const scheme = url.slice(0, sep + 3);
  let rest = url.slice(sep + 3);
  let user: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(":");
    user = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    password = colon >= 0 ? userinfo.slice(colon + 1) : undefined;
    rest = rest.slice(at + 1);
  }
  let query: UrlParts["query"];
  const q = rest.indexOf("?");
  if (q >= 0) {
    query = rest
      .slice(q + 1)
      .split("&")
      .map((pair) => {
        const eq = pair.indexOf("=");
        return eq >= 0 ? [pair.slice(0, eq), pair.slice(eq + 1)] : [pair, undefined];
      });
    rest = rest.slice(0, q);
  }
  return { scheme, user, password, hostAndPath: rest, query };
}

const isSecretParam = (name: string, value: string | undefined): value is string => value !== undefined && SECRET_PARAM.test(name);

/**
 * Whether a WHATWG URL parser reads the user name and password exactly as `p` cut them (by the
 * last `@`). When it does not, or cannot parse the URL at all, the user name is no safe guess
 * either: a raw `/`, `#`, `?` or `:` may have moved part of the password into it.
 */
function userinfoReadAlike(url: string, p: UrlParts): boolean {
  try {
    const u = new URL(url);
    return safeDecode(u.username) === safeDecode(p.user ?? "") && safeDecode(u.password) === safeDecode(p.password ?? "");
  } catch {
    return false;
  }
}

/**
 * A URL safe to print or log: its password, and any password-like query parameter, replaced by
 * `***`; the whole user name and password (everything from `://` to the last `@`) when the URL
 * does not parse as written. The one redaction of URLs that may hold credentials (database, SMTP,
 * S3 endpoint, public URL).
 */
export function redactUrl(url: string): string {
  const p = parseUrl(url);
  if (!p) return url.includes("@") ? "(not shown: it may hold a password)" : url;
  const auth = p.user === undefined ? "" : !userinfoReadAlike(url, p) ? "***@" : p.password === undefined ? `${p.user}@` : `${p.user}:***@`;
  const query = p.query ? `?${p.query.map(([name, value]) => (value === undefined ? name : `${name}=${isSecretParam(name, value) ? "***" : value}`)).join("&")}` : "";
  return `${p.scheme}${auth}${p.hostAndPath}${query}`;
}

function safeDecode(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** Every spelling of the URL's secrets (as written and decoded), longest first: to scrub them from a driver's message. */
export function urlSecrets(url: string): string[] {
  const p = parseUrl(url);
  if (!p) return [];
  const out: string[] = [];
  if (p.password !== undefined) out.push(p.password);
  // A parameter's value as written, and as a parser reads it (up to a `#`).
  for (const [name, value] of p.query ?? []) if (isSecretParam(name, value)) out.push(value, value.split("#")[0]!);
  return [...new Set(out.flatMap((v) => [v, safeDecode(v)]))].filter((v) => v !== "").sort((a, b) => b.length - a.length);
}

/**
 * Whether a WHATWG URL parser (the one drivers use) reads the password otherwise than written (a
 * raw `/`, `#` or `?` in it): the driver then takes part of the password for the host, and its
 * messages would show that part.
 */
export function credentialsMisread(url: string): boolean {
  const p = parseUrl(url);
  if (!p || p.password === undefined || p.password === "") return false;
  try {
    return safeDecode(new URL(url).password) !== safeDecode(p.password);
  } catch {
    return true;
  }
}
