import type { RequestOptions } from "../http.js";
import type { Health, TrustPolicy, TrustPolicyCreateRequest, TrustPolicyUpdateRequest, User, UserCreateRequest, UserList, UserUpdateRequest } from "../types.js";
import type { Core } from "./core.js";
import { auditEventsResource } from "./audit-events.js";

/** `sf.me()` and `sf.health()`: who the token belongs to, and whether the server is up. */
export function accountMethods({ api, call, init }: Core) {
  return {
    health: (o?: RequestOptions): Promise<Health> => call(api.GET("/health", init(o))),
    me: (o?: RequestOptions): Promise<User> => call(api.GET("/me", init(o))),
  };
}

/** `sf.admin`: user management, keyless CI trust policies and the audit trail (admins only). */
export function adminResource(core: Core) {
  const { api, call, init } = core;
  return {
    /** The instance's audit trail: pages, a walk that follows the cursor, or the NDJSON/CSV export. */
    events: auditEventsResource(core),
    users: {
      list: (query: { page?: number; per_page?: number; q?: string } = {}, o?: RequestOptions): Promise<UserList> =>
        call(api.GET("/admin/users", { params: { query }, ...init(o) })),
      create: (body: UserCreateRequest, o?: RequestOptions): Promise<User> => call(api.POST("/admin/users", { body, ...init(o) })),
      update: (id: string, body: UserUpdateRequest, o?: RequestOptions): Promise<User> => call(api.PATCH("/admin/users/{id}", { params: { path: { id } }, body, ...init(o) })),
    },
    /** Trust policies for keyless CI: which pipelines' OIDC ID tokens may be exchanged for a token. */
    trustPolicies: {
      list: (o?: RequestOptions): Promise<TrustPolicy[]> => call(api.GET("/admin/trust-policies", init(o))),
      create: (body: TrustPolicyCreateRequest, o?: RequestOptions): Promise<TrustPolicy> => call(api.POST("/admin/trust-policies", { body, ...init(o) })),
      get: (id: string, o?: RequestOptions): Promise<TrustPolicy> => call(api.GET("/admin/trust-policies/{id}", { params: { path: { id } }, ...init(o) })),
      update: (id: string, body: TrustPolicyUpdateRequest, o?: RequestOptions): Promise<TrustPolicy> =>
        call(api.PATCH("/admin/trust-policies/{id}", { params: { path: { id } }, body, ...init(o) })),
      delete: async (id: string, o?: RequestOptions): Promise<void> => {
        await call(api.DELETE("/admin/trust-policies/{id}", { params: { path: { id } }, ...init(o) }));
      },
    },
  };
}

export type AdminResource = ReturnType<typeof adminResource>;
