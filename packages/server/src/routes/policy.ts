import type { Handler } from "../http/operations.js";

// PLACEHOLDER: replaced by the implementation; nothing ships with these.
export const getMyPolicy: Handler<"getMyPolicy"> = async () => {
  throw new Error("getMyPolicy is not built yet");
};
export const getPolicy: Handler<"getPolicy"> = async () => {
  throw new Error("getPolicy is not built yet");
};
export const putPolicy: Handler<"putPolicy"> = async () => {
  throw new Error("putPolicy is not built yet");
};
