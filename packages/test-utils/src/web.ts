import type { TestServer } from "./server.js";

/**
 * A browser's cookie store, as far as these tests need one: name → value, for one host. Like a
 * browser it keeps the real time, whatever the server's test clock says: `Max-Age` counts from
 * receipt and wins over `Expires`, which is read against the real clock.
 */
export class CookieJar {
  readonly cookies = new Map<string, string>();
  private readonly until = new Map<string, number>();

  /** Takes the Set-Cookie headers of an answer (an expired or empty cookie is removed). */
  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const attr = (key: string) =>
        attrs
          .map((a) => a.trim())
          .find((a) => a.toLowerCase().startsWith(`${key}=`))
          ?.slice(key.length + 1);
      const maxAge = attr("max-age");
      const expires = attr("expires");
      const until = maxAge !== undefined ? Date.now() + Number(maxAge) * 1000 : expires !== undefined ? Date.parse(expires) : Infinity;
      this.until.delete(name);
      if (value === "" || until <= Date.now()) this.cookies.delete(name);
      else {
        this.cookies.set(name, value);
        if (until !== Infinity) this.until.set(name, until);
      }
    }
  }

  header(): string {
    for (const [name, until] of this.until) {
      if (until <= Date.now()) {
        this.cookies.delete(name);
        this.until.delete(name);
      }
    }
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

/** Set-Cookie lines of an answer for one cookie. */
export function setCookieOf(res: Response, name: string): string | undefined {
  return res.headers.getSetCookie().find((l) => l.startsWith(`${name}=`));
}

/** The value of `name="…"` inputs or the csrf meta tag in a page. */
export function csrfOf(page: string): string {
  const m = /<meta name="csrf-token" content="([^"]+)">/.exec(page) ?? /name="_csrf" value="([^"]+)"/.exec(page);
  if (!m) throw new Error("no CSRF token in the page");
  return m[1]!;
}

/**
 * What a browser does, with fetch: keeps cookies, never follows redirects (tests look at them),
 * posts forms as application/x-www-form-urlencoded and says it is on the same site.
 */
export class WebClient {
  readonly jar = new CookieJar();
  constructor(readonly t: Pick<TestServer, "url" | "api">) {}

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(`${this.t.url}${path}`, { redirect: "manual", headers: { Cookie: this.jar.header(), ...headers } });
    this.jar.store(res);
    return res;
  }

  async post(path: string, form: Record<string, string | string[]>, headers: Record<string, string> = {}): Promise<Response> {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
    const res = await fetch(`${this.t.url}${path}`, {
      method: "POST",
      redirect: "manual",
      headers: { Cookie: this.jar.header(), "Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin", ...headers },
      body,
    });
    this.jar.store(res);
    return res;
  }

  /** The session's CSRF token, read from a page as the pages' scripts do. */
  async csrf(): Promise<string> {
    return csrfOf(await (await this.get("/account")).text());
  }

  /** The API with this browser's cookies (and no Authorization header). */
  api(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
    const { json, ...rest } = init;
    const headers = new Headers(rest.headers);
    headers.set("Cookie", this.jar.header());
    if (json !== undefined) {
      headers.set("Content-Type", "application/json");
      rest.body = JSON.stringify(json);
    }
    return fetch(`${this.t.api}${path}`, { ...rest, headers });
  }

  /** Opens the sign-in page and posts the form; returns the answer to the POST. */
  async signIn(email: string, password: string, next?: string): Promise<Response> {
    const page = await (await this.get(next ? `/login?next=${encodeURIComponent(next)}` : "/login")).text();
    const form: Record<string, string> = { _csrf: csrfOf(page), email, password };
    if (next !== undefined) form.next = next;
    return this.post("/login", form);
  }
}

/** A browser signed in as this user (throws unless the sign-in succeeded). */
export async function signedIn(t: TestServer, email: string, password: string): Promise<WebClient> {
  const c = new WebClient(t);
  const res = await c.signIn(email, password);
  if (res.status !== 303) throw new Error(`sign-in: ${res.status} ${await res.text()}`);
  return c;
}
