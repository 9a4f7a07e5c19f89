import { expect, test, type Page } from "@playwright/test";
import { SYSTEM_ADMIN } from "./helpers";

/** The most WebAssembly a first visit may download, in bytes as sent over the wire. */
const FIRST_VISIT_BUDGET = 250_000;

type Download = { url: string; encoding: string | undefined; cache: string | undefined; bytes: number };

/** Records every .wasm response of the page: its encoding, caching and encoded body size. */
function recordWasm(page: Page): Promise<Download>[] {
  const downloads: Promise<Download>[] = [];
  page.on("requestfinished", (request) => {
    if (!new URL(request.url()).pathname.endsWith(".wasm")) return;
    downloads.push(
      (async () => {
        const response = await request.response();
        const headers = (await response?.allHeaders()) ?? {};
        const sizes = await request.sizes();
        return {
          url: request.url(),
          encoding: headers["content-encoding"],
          cache: headers["cache-control"],
          bytes: sizes.responseBodySize,
        };
      })(),
    );
  });
  return downloads;
}

test.describe("browser bundle", () => {
  test("a first visit downloads at most 250 KB of brotli WebAssembly and hydrates", async ({ page }) => {
    // A panic while hydrating a lazily loaded page shows up only as a page error.
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    const recorded = recordWasm(page);
    await page.goto("/");
    await expect(page).toHaveURL(/\/sign-in/);
    await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
    await page.waitForLoadState("networkidle");
    const firstVisit = await Promise.all(recorded);
    const total = firstVisit.reduce((sum, d) => sum + d.bytes, 0);
    console.log(`first visit (sign-in page): ${total} bytes of WebAssembly in ${firstVisit.length} files`);
    expect(firstVisit.length).toBeGreaterThan(0);
    for (const d of firstVisit) {
      expect(d.encoding, d.url).toBe("br");
      expect(d.cache, d.url).toContain("immutable");
    }
    expect(total).toBeLessThanOrEqual(FIRST_VISIT_BUDGET);

    // The hydrated page works: signing in leads to the usage table, whose page code is
    // fetched then (its size is reported, not budgeted).
    await page.getByLabel("User name").fill(SYSTEM_ADMIN.username);
    await page.getByLabel("Password").fill(SYSTEM_ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("table", { name: "Token usage by tenant" })).toBeVisible();
    await page.waitForLoadState("networkidle");
    const all = await Promise.all(recorded);
    const withUsage = all.reduce((sum, d) => sum + d.bytes, 0);
    console.log(`sign-in page, then the usage table: ${withUsage} bytes of WebAssembly in ${all.length} files`);
    await page.getByRole("button", { name: "Deploy agent" }).click();
    await expect(page.getByRole("dialog", { name: "Deploy agent" })).toBeVisible();
    expect(pageErrors).toEqual([]);
  });
});
