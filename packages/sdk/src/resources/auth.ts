import type { RequestOptions } from "../http.js";
import type { Scope, TokenCreated } from "../types.js";
import type { Core } from "./core.js";

/** `sf.auth`: logging in with email and password. */
export function authResource({ api, call, init }: Core) {
  return {
    /** Exchanges email and password for a new token (`POST /auth/token`). */
    login: (email: string, password: string, name: string, params: { expires_in_days?: number; scopes?: Scope[] } = {}, o?: RequestOptions): Promise<TokenCreated> =>
      call(
        api.POST("/auth/token", {
          body: { email, password, name, ...(params.expires_in_days ? { expires_in_days: params.expires_in_days } : {}), ...(params.scopes ? { scopes: params.scopes } : {}) },
          ...init(o),
        }),
      ),
  };
}

export type AuthResource = ReturnType<typeof authResource>;
