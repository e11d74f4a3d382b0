const PACKAGE = {
  id: "0b6f5c1e-2a11-4a7b-9a39-3f0c1c368a55",
  title: "x",
  recipient_email: "a@b.co",
  recipient_name: null,
  direction: "outbound",
  status: "draft",
  ttl_days: 7,
  message: null,
  created_at: "2026-11-27T10:00:00.000Z",
  finalized_at: null,
  expires_at: null,
  revoked_at: null,
  completed_at: null,
  file_count: 0,
  total_size: 0,
  download_count: 0,
  magic_link_state: "none",
  files: [] as unknown[],
};

/**
 * A package as the API answers it, for fake servers in client tests (a draft with no files unless
 * `overrides` say otherwise). One shape here, so a field the spec adds is added once.
 */
export function fakePackage<T extends Record<string, unknown>>(overrides?: T) {
  return { ...PACKAGE, ...overrides };
}
