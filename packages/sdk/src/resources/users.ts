import type { RequestOptions } from "../http.js";
import { mergePolicy, type PolicyChanges } from "../policy/index.js";
import type {
  Accepted,
  EffectivePolicy,
  ForcePasswordResetRequest,
  Health,
  Policy,
  PolicyUpdateRequest,
  TrustPolicy,
  TrustPolicyCreateRequest,
  TrustPolicyUpdateRequest,
  User,
  UserCreateRequest,
  UserList,
  UserUpdateRequest,
} from "../types.js";
import type { Core } from "./core.js";
import { auditEventsResource } from "./audit-events.js";

/**
 * `sf.me()`, `sf.me.policy()` and `sf.health()`: who the token belongs to, the rules their
 * packages must follow, and whether the server is up.
 */
export function accountMethods({ api, call, init }: Core) {
  return {
    health: (o?: RequestOptions): Promise<Health> => call(api.GET("/health", init(o))),
    me: (o?: RequestOptions): Promise<User> => call(api.GET("/me", init(o))),
    myPolicy: (o?: RequestOptions): Promise<EffectivePolicy> => call(api.GET("/me/policy", init(o))),
  };
}

/** `sf.admin`: user management, the instance's policy, keyless CI trust policies and the audit trail (admins only). */
export function adminResource(core: Core) {
  const { api, call, init } = core;
  const getPolicy = (o?: RequestOptions): Promise<Policy> => call(api.GET("/admin/policy", init(o)));
  const putPolicy = (body: PolicyUpdateRequest, o?: RequestOptions): Promise<Policy> => call(api.PUT("/admin/policy", { body, ...init(o) }));
  return {
    /** The instance's audit trail: pages, a walk that follows the cursor, or the NDJSON/CSV export. */
    events: auditEventsResource(core),
    /**
     * The rules every package must follow (lifetimes, password, encryption, recipient domains,
     * file size, recipients, storage quota), and each role's overrides.
     */
    policy: {
      get: getPolicy,
      /** Replaces the whole policy: a rule left out or `null` is no rule. Recorded as `policy.updated`. */
      put: putPolicy,
      /**
       * Changes only the rules named (GET, merge, PUT): see `PolicyChanges`. Two admins changing
       * it at the same moment: the last PUT wins.
       */
      update: async (changes: PolicyChanges, o?: RequestOptions): Promise<Policy> => putPolicy(mergePolicy(await getPolicy(o), changes), o),
      /** No rules at all, for every role. */
      clear: (o?: RequestOptions): Promise<Policy> => putPolicy({}, o),
    },
    users: {
      list: (query: { page?: number; per_page?: number; q?: string } = {}, o?: RequestOptions): Promise<UserList> =>
        call(api.GET("/admin/users", { params: { query }, ...init(o) })),
      create: (body: UserCreateRequest, o?: RequestOptions): Promise<User> => call(api.POST("/admin/users", { body, ...init(o) })),
      update: (id: string, body: UserUpdateRequest, o?: RequestOptions): Promise<User> => call(api.PATCH("/admin/users/{id}", { params: { path: { id } }, body, ...init(o) })),
      /**
       * Forces a user to choose a new password: theirs stops working, their web sessions end
       * (their API tokens too with `revoke_tokens: true`) and they are emailed a reset link.
       */
      forcePasswordReset: (id: string, body: ForcePasswordResetRequest = {}, o?: RequestOptions): Promise<Accepted> =>
        call(api.POST("/admin/users/{id}/password-reset", { params: { path: { id } }, body, ...init(o) })),
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
