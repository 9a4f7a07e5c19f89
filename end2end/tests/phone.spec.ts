import { expect, test, type Page } from "@playwright/test";
import { SYSTEM_ADMIN, signIn } from "./helpers";

// A phone's viewport: pages were 602–941 px wide at 390 px, with "Sign out" and the table's
// last columns off-screen and the deploy dialog cut off.
test.use({ viewport: { width: 390, height: 844 } });

/** How far the page scrolls sideways: 0 when it fits the screen. */
async function overflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

/** Whether the element lies within the screen's width. */
async function onScreen(page: Page, box: { x: number; width: number } | null): Promise<boolean> {
  const width = page.viewportSize()?.width ?? 0;
  return !!box && box.x >= 0 && box.x + box.width <= width + 1;
}

test.describe("on a phone @nojs", () => {
  test("every page fits the screen: wide tables scroll in their own box, Sign out stays reachable", async ({ page }) => {
    await signIn(page, SYSTEM_ADMIN);
    for (const path of ["/", "/tenants/acme", "/tenants/acme/budget", "/admin", "/admin?tab=limits", "/admin?tab=tokens"]) {
      await page.goto(path);
      await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
      expect(await overflow(page), `${path} is wider than the screen`).toBeLessThanOrEqual(0);
      expect(await onScreen(page, await page.getByRole("button", { name: "Sign out" }).boundingBox()), path).toBe(true);
    }
    // The usage table's last columns are reached by scrolling the table, not the page.
    await page.goto("/");
    const table = page.getByRole("table", { name: "Token usage by tenant" });
    await table.evaluate((t) => (t.scrollLeft = t.scrollWidth));
    expect(await onScreen(page, await page.getByRole("columnheader", { name: /Usage %/ }).boundingBox())).toBe(true);
  });
});

test.describe("on a phone", () => {
  test("the deploy dialog fits the screen", async ({ page }) => {
    await signIn(page, SYSTEM_ADMIN);
    await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
    await page.getByRole("button", { name: "Deploy agent" }).click();
    const dialog = page.getByRole("dialog", { name: "Deploy agent" });
    await expect(dialog).toBeVisible();
    expect(await onScreen(page, await dialog.boundingBox())).toBe(true);
    for (const field of ["Agent name", "Tenant ID"]) {
      expect(await onScreen(page, await dialog.getByLabel(field).boundingBox()), field).toBe(true);
    }
  });
});
