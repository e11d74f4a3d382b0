import crypto from "node:crypto";
import fs from "node:fs";
import { InvalidArgumentError } from "commander";

/** Commander parser for whole numbers ≥ 1 (usage error, exit 2, otherwise). */
export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError("expected a whole number of at least 1");
  }
  return Number(value);
}

/** The SHA-256 (hex) of a local file, streamed: whether a file is already where it should be. */
export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
