import { escapeHtml } from "../util/escape-html.js";

export { escapeHtml };

/** Markup that is already safe: built by `html`, or by us from constants. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(v: HtmlValue): string {
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join("");
  if (v === null || v === undefined || v === false) return "";
  return escapeHtml(v);
}

/**
 * A template tag for pages: every interpolated value is escaped unless it is SafeHtml (what
 * another `html` made); arrays are joined, and null, undefined and false render as nothing. So a
 * page cannot forget to escape a title, a name or a file name: it would have to ask for `raw`.
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** Trusted markup as is (constants only; never anything a user typed). */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
