import { expect, test } from "@playwright/test";
import { check, openUsage, report, signIn, startDeploy, SYSTEM_ADMIN, tenantRow, uniqueTenantId } from "./helpers";

test.describe("deploy an agent and watch its tenant hit the limit", () => {
  test.beforeEach(async ({ page }) => signIn(page, SYSTEM_ADMIN));

  test("a new tenant with a 1000-token limit is cut off and shown in danger without a reload", async ({ page, request }) => {
    await openUsage(page, true);
    const tenantId = uniqueTenantId("e2e");

    const dialog = await startDeploy(page, "e2e-bot", tenantId);
    await expect(dialog.getByText("New tenant: it will be created with this agent.")).toBeVisible();
    await dialog.getByLabel("Token limit").fill("1000");
    await dialog.getByRole("button", { name: "Deploy", exact: true }).click();

    const key = await dialog.getByLabel("API key").inputValue();
    expect(key).toMatch(/^tg_[A-Za-z0-9]{40}$/);
    await dialog.getByRole("button", { name: "Done" }).click();
    await expect(dialog).toBeHidden();

    // The table shows the new tenant straight after the deploy.
    const pct = tenantRow(page, tenantId).locator("td.usage-pct");
    await expect(pct).toHaveText("0.0%");
    const loadsBefore = await page.evaluate(() => performance.getEntriesByType("navigation").length);

    // Report through the agent API until the check refuses.
    let calls = 0;
    while ((await check(request, key)).status() === 200) {
      const res = await report(request, key, `call-${calls}`, 150, 100);
      expect(res.status()).toBe(201);
      calls += 1;
      expect(calls).toBeLessThanOrEqual(4);
    }
    expect(calls).toBe(4);
    const refused = await check(request, key);
    expect(refused.status()).toBe(429);
    expect(Number(refused.headers()["retry-after"])).toBeGreaterThan(0);
    const body = await refused.json();
    expect(body).toMatchObject({ error: "token_limit_exceeded", tenant_id: tenantId, used_tokens: 1000, token_limit: 1000, usage_pct: 100 });

    // Within one 10 s refresh, with no navigation, the row turns danger.
    await expect(pct).toHaveText("100.0%", { timeout: 12_000 });
    await expect(pct).toHaveClass(/usage-danger/);
    await expect(pct).toHaveCSS("color", "rgb(185, 28, 28)");
    expect(await page.evaluate(() => performance.getEntriesByType("navigation").length)).toBe(loadsBefore);
  });

  test("an existing tenant gets no limit field", async ({ page }) => {
    await openUsage(page, true);
    const dialog = await startDeploy(page, "second-bot", "acme");
    await expect(dialog.getByText("Existing tenant: Acme Corp.")).toBeVisible();
    await expect(dialog.getByLabel("Token limit")).toHaveCount(0);
    await dialog.getByRole("button", { name: "Deploy", exact: true }).click();
    await expect(dialog.getByLabel("API key")).toHaveValue(/^tg_/);
  });

  test("invalid limits show an error and create nothing", async ({ page }) => {
    await openUsage(page, true);
    const tenantId = uniqueTenantId("bad");
    const dialog = await startDeploy(page, "bad-bot", tenantId);
    const limit = dialog.getByLabel("Token limit");
    await expect(limit).toBeVisible();

    for (const [typed, message] of [
      ["0", "must be greater than 0"],
      ["-5", "must be greater than 0"],
      ["2.5", "without a fraction"],
      ["ten", "must be a whole number"],
      ["9007199254740993", "must be at most 9007199254740992"],
    ]) {
      await limit.fill(typed);
      await expect(dialog.getByText(message)).toBeVisible();
      await dialog.getByRole("button", { name: "Deploy", exact: true }).click();
      await expect(dialog.getByLabel("API key")).toHaveCount(0);
    }
    await dialog.getByRole("button", { name: "Cancel" }).click();

    // Nothing was created: the tenant is still unknown to the server.
    const lookup = await page.request.get(`/api/lookup_tenant?tenant_id=${tenantId}`);
    expect(lookup.status()).toBe(200);
    expect((await lookup.json()).display_name).toBeNull();
    await expect(tenantRow(page, tenantId)).toHaveCount(0);
  });

  test("the limit dialog changes a tenant's limit and validates it", async ({ page }) => {
    await openUsage(page, true, "/?q=hooli");
    await page.getByRole("button", { name: "Edit token limit of hooli" }).click();
    const dialog = page.getByRole("dialog", { name: "Token limit for hooli" });
    const field = dialog.getByLabel("Token limit");
    await expect(field).toHaveValue("1000000");
    await field.fill("1.5");
    await expect(dialog.getByText("without a fraction")).toBeVisible();
    await expect(dialog.getByRole("button", { name: "Save limit" })).toBeDisabled();
    await field.fill("60000");
    await dialog.getByRole("button", { name: "Save limit" }).click();
    await expect(dialog).toBeHidden();
    await expect(tenantRow(page, "hooli").locator("td.usage-pct")).toHaveText("86.6%");
    await expect(tenantRow(page, "hooli").locator("td.usage-pct")).toHaveClass(/usage-warning/);
  });
});
