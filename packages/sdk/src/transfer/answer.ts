import { UnexpectedResponseError } from "../errors.js";

/** A `Headers`-like view of undici's header record. */
export function headerGetter(h: Record<string, string | string[] | undefined>): { get(name: string): string | null } {
  return {
    get(name: string) {
      const v = h[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
    },
  };
}

/** The parsed JSON of an answer; anything else (an HTML page, broken JSON) is an UnexpectedResponseError. */
export function jsonAnswer(status: number, headers: { get(name: string): string | null }, text: string, method: string, url: string): unknown {
  const type = headers.get("content-type") ?? "";
  if (text.trim() === "" && status >= 400) return undefined;
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) throw new UnexpectedResponseError({ status, contentType: type, method, url });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UnexpectedResponseError({ status, contentType: type, method, url, reason: `got JSON that does not parse (${(err as Error).message})`, cause: err });
  }
}
