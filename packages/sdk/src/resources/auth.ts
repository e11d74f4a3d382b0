import type { RequestOptions } from "../http.js";
import type { Accepted, Scope, TokenCreated } from "../types.js";
import type { Core } from "./core.js";

/** `sf.auth`: logging in with email and password, and recovering a forgotten password (no token needed). */
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
    /**
     * Asks for a password reset email for `email` (`POST /auth/password-reset`). The answer is the
     * same whether or not the address has an account; the link in the email is the only way on.
     */
    requestPasswordReset: (email: string, o?: RequestOptions): Promise<Accepted> => call(api.POST("/auth/password-reset", { body: { email }, ...init(o) })),
    /**
     * Sets a new password with the token of a reset email's link (the part after `#token=`). Every
     * web session of the account ends; its API tokens stay. A used, replaced or expired token is a
     * ValidationError with code `reset_token_invalid`.
     */
    confirmPasswordReset: async (token: string, password: string, o?: RequestOptions): Promise<void> => {
      await call(api.POST("/auth/password-reset/confirm", { body: { token, password }, ...init(o) }));
    },
  };
}

export type AuthResource = ReturnType<typeof authResource>;
