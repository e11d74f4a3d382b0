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

/**
 * Every package of a newest-first list, page by page, never repeating or skipping one while
 * others are created or deleted during the walk: each page asks for what comes after the last one
 * (GET /packages `cursor` = the previous page's `next_cursor`, keyset on created_at and id), so
 * packages created after the walk began are not included.
 */
export function walkPackages(fetchPage: (cursor: string | undefined, perPage: number) => Promise<PackageList>, perPage: number): ListIterator<Package> {
  return listIterator(async function* () {
    let cursor: string | undefined;
    for (;;) {
      const res = await fetchPage(cursor, perPage);
      yield* res.items;
      if (!res.next_cursor) return;
      cursor = res.next_cursor;
    }
  });
}
