import { Forbidden, type ForbiddenCode } from "../errors.js";

/** A policy's answer: allowed, or why not (a stable code and a sentence). */
export type Decision = true | Denial;

export interface Denial {
  code: ForbiddenCode;
  detail: string;
}

export function deny(code: ForbiddenCode, detail: string): Denial {
  return { code, detail };
}

/** The first denial of `decisions`, in order, or `true`. */
export function allOf(...decisions: (() => Decision)[]): Decision {
  for (const d of decisions) {
    const answer = d();
    if (answer !== true) return answer;
  }
  return true;
}

/** Throws the denial as 403 with its code. */
export function enforce(decision: Decision): void {
  if (decision !== true) throw new Forbidden(decision.code, decision.detail);
}
