import type { Handler } from "../http/operations.js";

// PLACEHOLDER: replaced by the implementation; nothing ships with these.
export const listAdminEvents: Handler<"listAdminEvents"> = async () => {
  throw new Error("listAdminEvents is not built yet");
};
