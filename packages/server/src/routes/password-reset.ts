import type { Handler } from "../http/operations.js";

// PLACEHOLDER: replaced by the implementation; nothing ships with these.
export const requestPasswordReset: Handler<"requestPasswordReset"> = async () => {
  throw new Error("requestPasswordReset is not built yet");
};
export const confirmPasswordReset: Handler<"confirmPasswordReset"> = async () => {
  throw new Error("confirmPasswordReset is not built yet");
};
export const forcePasswordReset: Handler<"forcePasswordReset"> = async () => {
  throw new Error("forcePasswordReset is not built yet");
};
