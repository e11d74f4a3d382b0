import { InvalidArgumentError } from "commander";

/** Commander parser for whole numbers ≥ 1 (usage error, exit 2, otherwise). */
export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError("expected a whole number of at least 1");
  }
  return Number(value);
}
