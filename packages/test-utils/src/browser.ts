import { chromium, type Browser, type Page } from "playwright-core";

/** Debian's chromium, never a downloaded browser. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
}

/**
 * Collects what a page reports that a person would call broken: dialogs (an alert means script
 * injection), uncaught script errors, console errors, and Content-Security-Policy violations.
 * Error statuses in `expectedStatuses` are answers the test asked for, not problems.
 */
export function watchProblems(page: Page, expectedStatuses: number[] = []): string[] {
  const problems: string[] = [];
  page.on("dialog", (d) => {
    problems.push(`dialog: ${d.type()} ${d.message()}`);
    void d.dismiss();
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (m) => {
    const text = m.text();
    const expected = expectedStatuses.some((s) => text.startsWith(`Failed to load resource: the server responded with a status of ${s}`));
    if (m.type() === "error" && !expected) problems.push(`console ${m.type()}: ${text}`);
    if (/Content Security Policy|Refused to (execute|load|apply|connect|create)/i.test(text)) problems.push(`CSP: ${text}`);
  });
  return problems;
}
