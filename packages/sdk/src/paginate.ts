import type { components } from "./generated/api.js";

type Package = components["schemas"]["Package"];
type PackageList = components["schemas"]["PackageList"];

/** An async iterable of a list's items, with `toArray()`. */
export interface ListIterator<T> extends AsyncIterable<T> {
  /** Every item (or the first `limit`), fetching only the pages needed. */
  toArray(opts?: { limit?: number }): Promise<T[]>;
}

export function listIterator<T>(walk: () => AsyncGenerator<T>): ListIterator<T> {
  return {
    [Symbol.asyncIterator]: walk,
    async toArray(opts = {}) {
      const out: T[] = [];
      if (opts.limit !== undefined && opts.limit <= 0) return out;
      for await (const item of { [Symbol.asyncIterator]: walk }) {
        out.push(item);
        if (opts.limit !== undefined && out.length >= opts.limit) break;
      }
      return out;
    },
  };
}

/** Whether `p` sorts before `anchor` in the server's order (created_at desc, then id desc). */
function newerThan(p: Package, anchor: Package): boolean {
  const a = Date.parse(p.created_at);
  const b = Date.parse(anchor.created_at);
  return a > b || (a === b && p.id > anchor.id);
}

/**
 * Every package of a newest-first list, page by page, never repeating or skipping one because
 * others were created during the walk.
 *
 * GET /packages pages by offset, newest first: a package created mid-walk pushes every later
 * item one place down, so the next page would start with one already seen. Until the server has
 * a cursor, the walk is anchored on the newest package of its first page: items are yielded once
 * (by id), anything newer than the anchor (created after the walk began) is left out, and the
 * walk ends at a short page or past the latest `total`. Deleting packages mid-walk can still make
 * it miss one (items move up): only a server cursor fixes that.
 *
 * SERVER CURSOR: this is the one place to switch. With `?cursor=` on GET /packages, `fetchPage`
 * takes the previous page's `next_cursor` instead of a page number, and the anchor and the
 * de-duplication go.
 */
export function walkPackages(fetchPage: (page: number, perPage: number) => Promise<PackageList>, perPage: number): ListIterator<Package> {
  return listIterator(async function* () {
    const seen = new Set<string>();
    let anchor: Package | undefined;
    for (let page = 1; ; page++) {
      const res = await fetchPage(page, perPage);
      anchor ??= res.items[0];
      for (const p of res.items) {
        // The first page is the walk's starting point; later pages can only bring in newer
        // packages by pushing old ones down.
        if (seen.has(p.id) || (page > 1 && anchor && newerThan(p, anchor))) continue;
        seen.add(p.id);
        yield p;
      }
      if (res.items.length < perPage || page * perPage >= res.total) return;
    }
  });
}
