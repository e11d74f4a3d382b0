import type { RequestOptions } from "../http.js";
import type { Scope, Token, TokenCreated } from "../types.js";
import type { Core } from "./core.js";

/** `sf.tokens`: your API tokens. */
export function tokensResource({ api, call, init }: Core) {
  return {
    list: (o?: RequestOptions): Promise<Token[]> => call(api.GET("/me/tokens", init(o))),
    /** A new token; `scopes` limits it to those (each held by this client's token, or 403). */
    create: (name: string, params: { expires_in_days?: number; scopes?: Scope[] } = {}, o?: RequestOptions): Promise<TokenCreated> =>
      call(
        api.POST("/me/tokens", {
          body: { name, ...(params.expires_in_days ? { expires_in_days: params.expires_in_days } : {}), ...(params.scopes ? { scopes: params.scopes } : {}) },
          ...init(o),
        }),
      ),
    revoke: async (id: string, o?: RequestOptions): Promise<void> => {
      await call(api.DELETE("/me/tokens/{id}", { params: { path: { id } }, ...init(o) }));
    },
  };
}

export type TokensResource = ReturnType<typeof tokensResource>;
