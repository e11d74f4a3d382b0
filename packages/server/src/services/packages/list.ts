import type { components } from "../../generated/api.js";
import { ValidationFailed } from "../../errors.js";
import { listPackageRows, type Direction, type PackageCursor, type PackageStatus } from "../../db/packages.js";
import { cleanText } from "../text.js";
import { toPackageView } from "../views.js";
import type { Principal, Services } from "../context.js";
import { packageListScope } from "../../policies/index.js";

type Schemas = components["schemas"];

export interface ListPackagesOptions {
  page?: number | undefined;
  perPage: number;
  cursor?: string | undefined;
  status?: PackageStatus | undefined;
  direction?: Direction | undefined;
  q?: string | undefined;
  idPrefix?: string | undefined;
}

/**
 * `GET /packages`: by page, or by cursor. A cursor is the last package a page returned (its
 * created_at and id, base64url JSON): the next page starts strictly after it in the list's order,
 * so a walk never skips or repeats a package when others are created or deleted meanwhile.
 */
export async function listPackages(s: Services, user: Principal, opts: ListPackagesOptions): Promise<Schemas["PackageList"]> {
  const now = s.clock();
  const q = opts.q === undefined ? undefined : cleanText(opts.q, "/query/q");
  if (opts.cursor !== undefined && opts.page !== undefined) throw new ValidationFailed("Give either page or cursor, not both", "/query/cursor");
  const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor);
  const page = opts.page ?? 1;
  // One row more than asked says whether there is a next page.
  const { rows, total } = await listPackageRows(
    s.db,
    { ownerId: packageListScope(user).ownerId, status: opts.status, direction: opts.direction, q: q || undefined, idPrefix: opts.idPrefix?.toLowerCase(), now: now.toISOString() },
    { limit: opts.perPage + 1, offset: (page - 1) * opts.perPage, after },
  );
  const items = rows.slice(0, opts.perPage);
  const last = items.at(-1);
  const next_cursor = rows.length > opts.perPage && last ? encodeCursor({ created_at: last.created_at, id: last.id }) : null;
  return { items: items.map((r) => toPackageView(r, now)), total, page, per_page: opts.perPage, next_cursor };
}

function encodeCursor(c: PackageCursor): string {
  return Buffer.from(JSON.stringify([c.created_at, c.id])).toString("base64url");
}

function decodeCursor(raw: string): PackageCursor {
  try {
    const v: unknown = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && typeof v[1] === "string" && !Number.isNaN(Date.parse(v[0])) && /^[0-9a-f-]{36}$/.test(v[1])) {
      return { created_at: v[0], id: v[1] };
    }
  } catch {
    // falls through to the 422
  }
  throw new ValidationFailed("cursor is not one this server gave out (use next_cursor from a page)", "/query/cursor");
}
