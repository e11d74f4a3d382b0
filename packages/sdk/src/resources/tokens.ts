import type { RequestOptions } from "../http.js";
import type { Token, TokenCreated } from "../types.js";
import type { Core } from "./core.js";

/** `sf.tokens`: your API tokens. */
export function tokensResource({ api, call, init }: Core) {
  return {
    list: (o?: RequestOptions): Promise<Token[]> => call(api.GET("/me/tokens", init(o))),
    create: (name: string, params: { expires_in_days?: number } = {}, o?: RequestOptions): Promise<TokenCreated> =>
      call(api.POST("/me/tokens", { body: { name, ...(params.expires_in_days ? { expires_in_days: params.expires_in_days } : {}) }, ...init(o) })),
    revoke: async (id: string, o?: RequestOptions): Promise<void> => {
      await call(api.DELETE("/me/tokens/{id}", { params: { path: { id } }, ...init(o) }));
    },
  };
}

export type TokensResource = ReturnType<typeof tokensResource>;
