import { expect, test, type Page } from "@playwright/test";
import { ACME_ADMIN, serverFn, signIn, SYSTEM_ADMIN, tenantRow, uniqueTenantId } from "./helpers";

// The tenant budget page, hydrated and with JavaScript off. The demo data (read, never edited
// here) has acme at 42 % with twelve days of history, globex in alert, initech in its grace
// period, stark blocked and hooli started today; edits happen on a tenant the test creates.

/** A new tenant with its own tenant admin, who is then signed in on the budget page. */
async function signedInTenantAdmin(page: Page) {
  await signIn(page, SYSTEM_ADMIN);
  const tenantId = uniqueTenantId("budget");
  await serverFn(page, "deploy_agent", { agent_name: "bot", tenant_id: tenantId, token_limit: "" });
  const admin = { username: `${tenantId}-admin`, password: "budget-admin-password" };
  await serverFn(page, "create_tenant_admin", { username: admin.username, tenant_id: tenantId, password: admin.password });
  await page.context().clearCookies();
  await signIn(page, admin, `/tenants/${tenantId}/budget`);
  return { tenantId, admin };
}

async function hydrated(page: Page, javaScriptEnabled: boolean) {
  if (javaScriptEnabled) {
    await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  }
}

/** The value of one figure ("Current Spend", …) in the budget's stats list. */
function figure(page: Page, name: string) {
  return page
    .locator("dl.stats > div")
    .filter({ has: page.locator("dt", { hasText: new RegExp(`^${name}$`) }) })
    .locator("dd");
}

test.describe("budget page @nojs", () => {
  test("a tenant admin sees the demo figures, colours and chart of their tenant", async ({ page, javaScriptEnabled }) => {
    await signIn(page, ACME_ADMIN, "/tenants/acme/budget");
    await expect(page.getByRole("heading", { name: "Budget of Acme Corp (acme)" })).toBeVisible();
    await hydrated(page, javaScriptEnabled);
    await expect(figure(page, "Current Spend")).toHaveText("$210.00");
    await expect(figure(page, "Max Budget")).toHaveText("$500.00");
    await expect(figure(page, "Percent Used")).toHaveText("42.0%");
    await expect(figure(page, "Block Amount")).toHaveText("$550.00");
    await expect(figure(page, "Percent Used")).toHaveCSS("color", "rgb(21, 128, 61)");
    await expect(page.getByRole("progressbar", { name: "Budget used" })).toHaveClass(/budget-ok/);
    await expect(page.getByText(/^Resets on \d{4}-\d{2}-\d{2} \(1[78] days\)/)).toBeVisible();
    await expect(page.getByRole("img", { name: /Cumulative spend over the last 1[23] days/ })).toBeVisible();
    // $210 in 12 of 30 days burns through $500 before the reset.
    await expect(page.getByRole("table", { name: "Alert history" })).toContainText("Projected Limit");
  });

  test("the system admin sees every state in the table and on the pages", async ({ page, javaScriptEnabled }) => {
    await signIn(page, SYSTEM_ADMIN);
    await hydrated(page, javaScriptEnabled);
    for (const [tenant, text, state] of [
      ["acme", "$210.00 / $500.00", "budget-ok"],
      ["globex", "$850.00 / $1,000.00", "budget-alert"],
      ["initech", "$208.00 / $200.00", "budget-grace"],
      ["stark", "$345.00 / $300.00", "budget-blocked"],
      ["umbrella", "No budget", ""],
    ]) {
      const cell = tenantRow(page, tenant).locator("td.budget-cell");
      await expect(cell).toHaveText(text);
      if (state) await expect(cell).toHaveClass(new RegExp(state));
    }

    await page.goto("/tenants/initech/budget");
    await expect(page.getByRole("status").filter({ hasText: "Grace Period: Active" })).toHaveCSS(
      "background-color",
      "rgb(220, 38, 38)",
    );
    const alerts = page.getByRole("table", { name: "Alert history" });
    for (const kind of ["80% Threshold", "100% Budget Exceeded"]) {
      await expect(alerts.getByRole("rowheader", { name: kind })).toBeVisible();
    }

    await page.goto("/tenants/stark/budget");
    await expect(page.getByRole("status").filter({ hasText: /^Blocked$/ })).toHaveCSS("background-color", "rgb(127, 29, 29)");
    await expect(page.getByRole("table", { name: "Alert history" }).getByRole("rowheader", { name: "Blocked" })).toBeVisible();

    await page.goto("/tenants/hooli/budget");
    await expect(figure(page, "Percent Used")).toHaveText("2.0%");
    await expect(page.getByText("Insufficient data")).toBeVisible();
    await expect(page.getByText("No alerts yet")).toBeVisible();
  });

  test("a tenant admin sets a budget: invalid values refused, then saved with the new block amount and an audit entry", async ({
    page,
    javaScriptEnabled,
  }) => {
    const { tenantId, admin } = await signedInTenantAdmin(page);
    await hydrated(page, javaScriptEnabled);
    await expect(page.getByText("No budget set")).toBeVisible();
    await expect(page.getByText("No alerts yet")).toBeVisible();
    await expect(page.getByText("Insufficient data")).toBeVisible();

    const form = page.getByRole("form", { name: "Budget configuration" });
    const max = form.getByLabel("Max Budget ($)");
    const save = form.getByRole("button", { name: "Save Budget Config" });
    await expect(max).toHaveValue("500");
    for (const [typed, message] of [
      ["0", "Must be greater than $0"],
      ["12.345", "Must be in whole cents"],
    ]) {
      await max.fill(typed);
      if (javaScriptEnabled) {
        // Checked while typing by the same rule the server applies; nothing to submit.
        await expect(form.getByText(message)).toBeVisible();
        await expect(save).toBeDisabled();
      } else {
        await save.click();
        await expect(page.getByRole("form", { name: "Budget configuration" }).getByText(message)).toBeVisible();
      }
    }
    const changes = page.getByRole("table", { name: "Changes to this tenant" });
    await expect(changes.getByRole("row").filter({ hasText: "budget_config_updated" })).toHaveCount(0);

    await form.getByLabel("Max Budget ($)").fill("750");
    // Grace 110 % → 120 %: the slider moves by keyboard, with or without JavaScript.
    await form.getByLabel("Grace Threshold (%)").focus();
    for (let i = 0; i < 10; i++) await page.keyboard.press("ArrowRight");
    if (javaScriptEnabled) {
      await expect(form.getByText("Will block at $900.00 (120% of $750.00)")).toBeVisible();
    }
    await form.getByRole("button", { name: "Save Budget Config" }).click();
    await expect(page.getByText("Budget configuration updated successfully")).toBeVisible();
    await expect(figure(page, "Max Budget")).toHaveText("$750.00");
    await expect(figure(page, "Block Amount")).toHaveText("$900.00");
    await expect(page.getByText("Will block at $900.00 (120% of $750.00)")).toBeVisible();
    await expect(changes.getByRole("row").filter({ hasText: "budget_config_updated" })).toContainText(admin.username);
    // The values read as words, not JSON.
    await expect(changes).toContainText("max budget: $750.00");
    await expect(changes).toContainText("grace threshold: 120%");
    await expect(page).toHaveURL(new RegExp(`/tenants/${tenantId}/budget`));
  });
});
