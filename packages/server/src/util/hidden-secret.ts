import { inspect } from "node:util";

const SHOWN = "[redacted]";

/**
 * A secret setting (a client secret) that prints as `[redacted]` however it is printed: in a
 * template string, `JSON.stringify`, `console.log` or a pino line of the whole configuration.
 * Only `reveal()` gives the value, at the one place that sends it.
 */
export class HiddenSecret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return SHOWN;
  }
  toJSON(): string {
    return SHOWN;
  }
  [inspect.custom](): string {
    return SHOWN;
  }
}
