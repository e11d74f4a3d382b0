import type { paths } from "../generated/api.js";
import type { RequestOptions } from "../http.js";
import { walkPackages, type ListIterator } from "../paginate.js";
import type {
  FinalizedPackage,
  Package,
  PackageCreateRequest,
  FinalizeRequest,
  PackageDetail,
  PackageEvent,
  PackageLink,
  PackageList,
  PackageStatus,
  Direction,
  PackageUpdateRequest,
} from "../types.js";
import { idempotent, type Core } from "./core.js";
import { waitForDownload, type WaitForDownloadOptions, type WaitForDownloadResult } from "./wait-for-download.js";

/** `sf.packages`: your packages, from draft to finalized, revoked and deleted. */
export function packagesResource(core: Core) {
  const { api, call, init } = core;
  const packages = {
    /** Creates a draft. Retried like a GET on network errors and 429/502–504 (Idempotency-Key). */
    create: (body: PackageCreateRequest, o?: RequestOptions): Promise<PackageDetail> => call(api.POST("/packages", { body, ...init(o), headers: idempotent(o) })),
    /** One page; `next_cursor` (as `cursor`) continues the walk (see iterate). `id_prefix` finds packages by the start of their id. */
    list: (query: NonNullable<paths["/packages"]["get"]["parameters"]["query"]> = {}, o?: RequestOptions): Promise<PackageList> =>
      call(api.GET("/packages", { params: { query }, ...init(o) })),
    /**
     * Every package matching the filters, newest first, page by page (`per_page`, default 100):
     * `for await (const p of sf.packages.iterate())`, or `.toArray({ limit })`. Packages created
     * while it walks are not included, and none is repeated or skipped (a server cursor).
     */
    iterate: (filters: { status?: PackageStatus; direction?: Direction; q?: string; id_prefix?: string; per_page?: number } = {}, o?: RequestOptions): ListIterator<Package> => {
      const { per_page, ...rest } = filters;
      return walkPackages((cursor, perPage) => packages.list({ ...rest, ...(cursor ? { cursor } : {}), per_page: perPage }, o), per_page ?? 100);
    },
    get: (id: string, o?: RequestOptions): Promise<PackageDetail> => call(api.GET("/packages/{id}", { params: { path: { id } }, ...init(o) })),
    /**
     * Waits until every recipient has downloaded every file (one by one or as the archive), through
     * the events long-poll; `{ complete: false }` when `timeoutMs` (default 24 h) passes first.
     */
    waitForDownload: (id: string, opts?: WaitForDownloadOptions): Promise<WaitForDownloadResult> =>
      waitForDownload(
        {
          getPackage: (pid, o) => packages.get(pid, o),
          listEvents: (pid, query, o) => call(api.GET("/packages/{id}/events", { params: { path: { id: pid }, query }, ...init(o) })),
        },
        id,
        opts,
      ),
    /**
     * Mints the magic link and mails it (`body: { notify_recipients: false }`: mails nothing).
     * Retried like create (Idempotency-Key).
     */
    finalize: (id: string, o?: RequestOptions & { body?: FinalizeRequest }): Promise<FinalizedPackage> =>
      call(api.POST("/packages/{id}/finalize", { params: { path: { id } }, ...(o?.body ? { body: o.body } : {}), ...init(o), headers: idempotent(o) })),
    revoke: (id: string, o?: RequestOptions): Promise<PackageDetail> => call(api.POST("/packages/{id}/revoke", { params: { path: { id } }, ...init(o) })),
    /**
     * A new expiry (`ttl_days` from now, or `expires_at`; revives an expired package whose files
     * are still stored) or `max_downloads` (`null` removes the limit).
     */
    update: (id: string, body: PackageUpdateRequest, o?: RequestOptions): Promise<PackageDetail> =>
      call(api.PATCH("/packages/{id}", { params: { path: { id } }, body, ...init(o) })),
    /** Emails each recipient whose link is not revoked a fresh link (the old one stops working); 3 per hour. */
    resend: (id: string, o?: RequestOptions): Promise<FinalizedPackage> => call(api.POST("/packages/{id}/resend", { params: { path: { id } }, ...init(o) })),
    /** Revokes one recipient's link; the others keep working. */
    revokeLink: (id: string, linkId: string, o?: RequestOptions): Promise<PackageLink> =>
      call(api.POST("/packages/{id}/links/{link_id}/revoke", { params: { path: { id, link_id: linkId } }, ...init(o) })),
    delete: async (id: string, o?: RequestOptions): Promise<void> => {
      await call(api.DELETE("/packages/{id}", { params: { path: { id } }, ...init(o) }));
    },
  };
  return packages;
}

/** `sf.events(id)`: the audit trail of one of your packages. */
export function packageEvents(core: Core) {
  return (packageId: string, o?: RequestOptions): Promise<PackageEvent[]> =>
    core.call(core.api.GET("/packages/{id}/events", { params: { path: { id: packageId } }, ...core.init(o) }));
}

export type PackagesResource = ReturnType<typeof packagesResource>;
