import { expect, test } from "@playwright/test";
import { SYSTEM_ADMIN, signIn } from "./helpers";

test.describe("page details @nojs", () => {
  test("an unknown tenant's page is the not-found page alone", async ({ page }) => {
    await signIn(page, SYSTEM_ADMIN);
    const response = await page.goto("/tenants/no-such-tenant");
    expect(response?.status()).toBe(404);
    await expect(page.getByRole("heading", { name: "Not found" })).toBeVisible();
    // The usage range form belonged to the tenant page and showed below the error.
    await expect(page.getByRole("form", { name: "Usage range" })).toHaveCount(0);
    await expect(page.getByText("Usage by user and model")).toHaveCount(0);
  });

  test("every page has its own title and exactly one current link in each navigation", async ({ page }) => {
    await signIn(page, SYSTEM_ADMIN);
    const titles = new Set<string>();
    // (path, the main navigation's current entry, how many tabs in the page mark themselves)
    for (const [path, current, tabs] of [
      ["/", "Usage", 0],
      ["/tenants/acme", null, 1],
      ["/tenants/acme/budget", null, 1],
      ["/admin", "Admin", 1],
      ["/admin?tab=limits", "Admin", 1],
      ["/admin?tab=tokens", "API tokens", 0],
    ] as const) {
      await page.goto(path);
      await expect(page).toHaveTitle(/ · Tollgate$/);
      titles.add(await page.title());
      const main = page.getByRole("navigation", { name: "Main" });
      const marked = main.locator("[aria-current]");
      if (current === null) {
        await expect(marked, path).toHaveCount(0);
      } else {
        await expect(marked, path).toHaveCount(1);
        await expect(marked, path).toHaveText(current);
      }
      // The page's own tabs (tenant, budget, admin) mark one tab at most, and nothing else on
      // the page (sort links, pager links) claims to be the current page.
      await expect(page.locator("main [aria-current]"), path).toHaveCount(tabs);
      await expect(page.locator("[aria-current]"), path).toHaveCount((current ? 1 : 0) + tabs);
    }
    expect(titles.size).toBe(6);
  });
});
