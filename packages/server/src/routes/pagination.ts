/** `page` and `per_page` with the defaults openapi.yaml gives them (1 and 20). */
export function pageOf(query: { page?: number; per_page?: number }): { page: number; perPage: number } {
  return { page: query.page ?? 1, perPage: query.per_page ?? 20 };
}
