/**
 * Trust-policy condition values: an exact value, or a glob where `*` matches any run of
 * characters except `/` (one path segment, possibly empty) and `**` matches any run including
 * `/`. Nothing else is special (no `?`, no classes, no escapes), so a value without `*` is an
 * exact comparison. Matching is on the whole claim value, case-sensitively.
 *
 *   `repo:acme/app:ref:refs/heads/*`  matches `…refs/heads/main`, not `…refs/heads/feature/x`
 *   `repo:acme/app:ref:refs/heads/**` matches both
 */
export function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        // Any number of stars in a row beyond two still means "across segments".
        while (pattern[i + 1] === "*") i++;
        source += "[\\s\\S]*";
      } else {
        source += "[^/]*";
      }
    } else {
      source += c.replace(/[\\^$.|?+()[\]{}]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`, "u");
}

/** The value has a glob in it (`*`), rather than being an exact value. */
export function isGlob(value: string): boolean {
  return value.includes("*");
}

/** Whether a claim's value meets a condition (exact value or glob). */
export function matchesCondition(pattern: string, value: string): boolean {
  return isGlob(pattern) ? globToRegExp(pattern).test(value) : pattern === value;
}
