import { expect, test } from "@playwright/test";
import { openUsage, signIn, SYSTEM_ADMIN, tenantRow } from "./helpers";

// Runs hydrated and with JavaScript off: the table is complete in the server-rendered HTML.
test.describe("usage table @nojs", () => {
  test.beforeEach(async ({ page }) => signIn(page, SYSTEM_ADMIN));

  test("shows every demo tenant with Usage % after Total Cost, coloured by band", async ({ page, javaScriptEnabled }) => {
    await openUsage(page, javaScriptEnabled);

    const headers = page.getByRole("columnheader");
    await expect(headers).toContainText(["Tenant", "Input Tokens", "Output Tokens", "Total Tokens", "Total Cost", "Usage %"]);

    const pct = (tenant: string) => tenantRow(page, tenant).locator("td.usage-pct");
    await expect(pct("acme")).toHaveText("30.0%");
    await expect(pct("acme")).toHaveClass(/usage-default/);
    await expect(pct("globex")).toHaveText("85.0%");
    await expect(pct("globex")).toHaveClass(/usage-warning/);
    await expect(pct("initech")).toHaveText("105.0%");
    await expect(pct("initech")).toHaveClass(/usage-danger/);
    await expect(pct("umbrella")).toHaveText("No Limit");
    await expect(tenantRow(page, "umbrella").getByRole("cell").first()).toHaveText("744,000");
  });

  test("filters and sorts through the URL", async ({ page, javaScriptEnabled }) => {
    await openUsage(page, javaScriptEnabled, "/?q=glob");
    await expect(page.getByRole("rowheader")).toHaveCount(1);
    await expect(tenantRow(page, "globex")).toBeVisible();

    await openUsage(page, javaScriptEnabled, "/");
    await page.getByRole("link", { name: "Usage %" }).click();
    await expect(page).toHaveURL(/sort=usage_pct&dir=desc/);
    await expect(page.getByRole("rowheader").first()).toContainText("initech");
  });
});
