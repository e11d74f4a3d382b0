import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";

// Screenshots refresh docs/screenshots/ only when asked (SF_SCREENSHOTS=1), so a test run never
// rewrites tracked files; otherwise they go to a temp folder (still taken: rendering must work).
export const SCREENSHOTS = process.env.SF_SCREENSHOTS
  ? fileURLToPath(new URL("../../../docs/screenshots/", import.meta.url))
  : fs.mkdtempSync(path.join(os.tmpdir(), "sf-screenshots-"));
fs.mkdirSync(SCREENSHOTS, { recursive: true });

/** The page as it looks in light and in dark (`web-<name>-light.png`, `web-<name>-dark.png`). */
export async function snap(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<void> {
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.screenshot({ path: path.join(SCREENSHOTS, `web-${name}-${scheme}.png`), fullPage: opts.fullPage ?? false });
  }
  await page.emulateMedia({ colorScheme: "light" });
}

/** Signs in through the sign-in page as a person does, landing on `landing` (default the packages). */
export async function signInThroughPage(page: Page, baseUrl: string, email: string, password: string, landing = /\/packages$/): Promise<void> {
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(landing);
}

/** Opens the top-right user menu and follows one of its entries. */
export async function userMenu(page: Page, entry: "Account" | "Sign out"): Promise<void> {
  await page.locator("summary[aria-label^='User menu']").click();
  const menu = page.locator(".user-menu .menu");
  if (entry === "Account") await menu.getByRole("link", { name: "Account" }).click();
  else await menu.getByRole("button", { name: "Sign out" }).click();
}
