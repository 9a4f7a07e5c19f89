import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { checkAs, serverFn, signIn, SYSTEM_ADMIN, uniqueTenantId } from "./helpers";

// Managing limits from the console, hydrated and with JavaScript off: user overrides and the
// enforcement mode on the tenant page, the Admin tab's Usage Limits list, a tenant admin
// managing their own tenant's overrides. Each run makes its own tenants and users.


async function reportFor(request: APIRequestContext, key: string, eventId: string, user: string, tokens: number) {
  const res = await request.post("/api/agent/usage/report", {
    headers: { Authorization: `Bearer ${key}` },
    data: { event_id: eventId, model: "gpt-4o-mini", input_tokens: tokens, output_tokens: 0, user_id: user },
  });
  expect(res.status()).toBe(201);
}

async function openTenant(page: Page, tenantId: string, javaScriptEnabled: boolean) {
  await page.goto(`/tenants/${tenantId}`);
  await expect(page.getByRole("heading", { level: 1 })).toContainText(tenantId);
  if (javaScriptEnabled) await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
}

async function setOverride(page: Page, user: string, limit: string) {
  const form = page.getByRole("form", { name: "Set a user override" });
  await form.getByLabel("User ID").fill(user);
  await form.getByLabel("Token limit").fill(limit);
  await form.getByRole("button", { name: "Save override" }).click();
}

function overrideRow(page: Page, user: string) {
  return page
    .getByRole("table", { name: "User overrides" })
    .getByRole("row")
    .filter({ has: page.getByRole("rowheader", { name: user, exact: true }) });
}

async function setMode(page: Page, label: string) {
  const form = page.getByRole("form", { name: "Enforcement mode" });
  await form.getByRole("combobox", { name: "Enforcement mode" }).selectOption({ label });
  await form.getByRole("button", { name: "Save mode" }).click();
}

test.describe("limits in the console @nojs", () => {
  test("a system admin's override refuses that user only; monitor then enforce shows the count", async ({
    page,
    request,
    javaScriptEnabled,
  }) => {
    await signIn(page, SYSTEM_ADMIN);
    const tenantId = uniqueTenantId("console-ovr");
    const key: string = (await serverFn(page, "deploy_agent", { agent_name: "bot", tenant_id: tenantId, token_limit: "1000" })).api_key;
    await reportFor(request, key, "e1", "ann", 100);

    await openTenant(page, tenantId, javaScriptEnabled);
    await setOverride(page, "ann", "100");
    await expect(overrideRow(page, "ann")).toContainText("100.0%");
    // The server that saved it decides by it at once.
    expect((await checkAs(request, key, "ann")).status).toBe(429);
    expect((await checkAs(request, key, "ann")).body.limit).toBe("user_token_limit");
    expect((await checkAs(request, key, "bob")).status).toBe(200);

    // Monitor: ann passes, counted; the page says how many calls enforce would have blocked.
    await setMode(page, "Monitor (never refuse)");
    await expect(page.getByTestId("mode")).toContainText("Monitor (never refuse)");
    const monitored = await checkAs(request, key, "ann");
    expect(monitored.status).toBe(200);
    expect(monitored.body.would_refuse).toBe("user_token_limit");
    await expect
      .poll(async () => {
        await openTenant(page, tenantId, javaScriptEnabled);
        return page.getByTestId("would-refuse").textContent();
      })
      .toContain("Would have blocked 1 call this period.");

    // Enforce: refused again; the count of the period stays.
    await setMode(page, "Enforce");
    await expect(page.getByTestId("mode")).toContainText("Enforce");
    expect((await checkAs(request, key, "ann")).status).toBe(429);
    await expect(page.getByTestId("would-refuse")).toContainText("Would have blocked 1 call");

    // The Admin tab lists the tenant with its mode and override count.
    await page.goto(`/admin?tab=limits&q=${tenantId}`);
    const row = page.getByRole("table", { name: "Usage limits" }).getByRole("row").filter({ hasText: tenantId });
    await expect(row).toContainText("Enforce");
    await expect(row.getByRole("cell").nth(4)).toHaveText("1");
    await expect(row).toContainText("1,000");
  });

  test("a tenant admin sees only their tenant's users and manages their overrides", async ({ page, javaScriptEnabled }) => {
    await signIn(page, SYSTEM_ADMIN);
    const own = uniqueTenantId("own");
    const other = uniqueTenantId("other");
    await serverFn(page, "deploy_agent", { agent_name: "bot", tenant_id: own, token_limit: "5000" });
    await serverFn(page, "deploy_agent", { agent_name: "bot", tenant_id: other, token_limit: "5000" });
    await serverFn(page, "set_user_override", { tenant_id: other, user_id: "zed", token_limit: "10" });
    const admin = { username: `admin-${own}`.slice(0, 60), password: "a-long-password-1" };
    await serverFn(page, "create_tenant_admin", { username: admin.username, tenant_id: own, password: admin.password });
    await page.context().clearCookies();
    await signIn(page, admin);

    await openTenant(page, own, javaScriptEnabled);
    await expect(page.getByRole("form", { name: "Enforcement mode" })).toHaveCount(0);
    await setOverride(page, "cy", "50");
    await expect(overrideRow(page, "cy")).toContainText("50");
    await expect(page.getByText("zed")).toHaveCount(0);
    await setOverride(page, "cy", "75");
    await expect(overrideRow(page, "cy")).toContainText("75");
    await overrideRow(page, "cy").getByRole("button", { name: "Remove override of cy" }).click();
    await expect(overrideRow(page, "cy")).toHaveCount(0);
    // Another tenant, and the Admin tab, are not theirs.
    await page.goto(`/tenants/${other}`);
    await expect(page.getByText(`No tenant with id ${other}`)).toBeVisible();
    await page.goto("/admin?tab=limits");
    await expect(page.getByText("The Admin tab is for system admins")).toBeVisible();
  });

  test("a bad override limit is refused with a message under the field @nojs", async ({ page, javaScriptEnabled }) => {
    await signIn(page, SYSTEM_ADMIN);
    const tenantId = uniqueTenantId("console-bad");
    await serverFn(page, "deploy_agent", { agent_name: "bot", tenant_id: tenantId, token_limit: "1000" });
    await openTenant(page, tenantId, javaScriptEnabled);
    const form = page.getByRole("form", { name: "Set a user override" });
    await form.getByLabel("User ID").fill("ann");
    await form.getByLabel("Token limit").fill("2.5");
    if (javaScriptEnabled) {
      // Checked while typing, by the server's own rule; the button waits for a valid value.
      await expect(form.getByRole("alert")).toContainText("whole number");
      await expect(form.getByRole("button", { name: "Save override" })).toBeDisabled();
    } else {
      await form.getByRole("button", { name: "Save override" }).click();
      await expect(page.getByRole("alert").first()).toContainText("whole number");
    }
    await expect(page.getByRole("table", { name: "User overrides" }).getByRole("rowheader")).toHaveCount(0);
  });
});

test("the edit drawer saves a tenant's limit, budget, ceiling and mode together from the Usage Limits list", async ({ page, request }) => {
  await signIn(page, SYSTEM_ADMIN);
  const tenantId = uniqueTenantId("drawer");
  const key: string = (await serverFn(page, "deploy_agent", { agent_name: "bot", tenant_id: tenantId, token_limit: "1000" })).api_key;
  await page.goto(`/admin?tab=limits&q=${tenantId}`);
  await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  await page.getByRole("button", { name: `Edit limits of ${tenantId}` }).click();
  const drawer = page.getByRole("dialog", { name: `Limits of ${tenantId}` });
  const limit = drawer.getByRole("textbox", { name: "Token limit" });
  const budget = drawer.getByRole("textbox", { name: "Max budget (USD)" });
  const save = drawer.getByRole("button", { name: "Save limits" });
  await limit.fill("0");
  await expect(drawer.getByRole("alert")).toBeVisible();
  await expect(save).toBeDisabled();
  // Every field is edited before the one Save: none of the edits is dropped.
  await limit.fill("40");
  await drawer.getByRole("combobox", { name: "Enforcement mode" }).selectOption("monitor");
  await budget.fill("2.555");
  await expect(save).toBeDisabled();
  await budget.fill("250");
  await drawer.getByRole("textbox", { name: "Budget ceiling for tenant admins (USD)" }).fill("400");
  await save.click();
  await expect(drawer.getByRole("status")).toContainText("Saved.");
  const row = page.getByRole("table", { name: "Usage limits" }).getByRole("row").filter({ hasText: tenantId });
  await expect(row).toContainText("40");
  await expect(row).toContainText("Monitor");
  await expect(row).toContainText("$250.00");
  const status = await request.get("/api/agent/usage/status", { headers: { Authorization: `Bearer ${key}` } });
  const body = await status.json();
  expect([body.token_limit, body.mode]).toEqual([40, "monitor"]);
});

test("a personal API token is shown once, works on the automation API and stops when revoked", async ({ page, request }) => {
  await signIn(page, SYSTEM_ADMIN);
  await page.goto("/admin?tab=tokens");
  await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  const name = uniqueTenantId("token");
  await page.getByLabel("Token name").fill(name);
  await page.getByRole("button", { name: "Create token" }).click();
  const token = (await page.getByTestId("new-token").textContent()) ?? "";
  expect(token).toMatch(/^tgp_/);
  const auth = { headers: { Authorization: `Bearer ${token}` } };
  expect((await request.get("/api/client/usage/limits", auth)).status()).toBe(200);
  const row = page.getByRole("table", { name: "API tokens" }).getByRole("row").filter({ hasText: name });
  await expect(row).toContainText("Active");
  await expect(row).not.toContainText(token);
  await row.getByRole("button", { name: `Revoke ${name}` }).click();
  await expect(row).toContainText("Revoked");
  expect((await request.get("/api/client/usage/limits", auth)).status()).toBe(401);
});

test("the override dialog changes and removes one user's override", async ({ page, request }) => {
  await signIn(page, SYSTEM_ADMIN);
  const tenantId = uniqueTenantId("dialog");
  const key: string = (await serverFn(page, "deploy_agent", { agent_name: "bot", tenant_id: tenantId, token_limit: "1000" })).api_key;
  await openTenant(page, tenantId, true);
  await setOverride(page, "ann", "500");
  await expect(overrideRow(page, "ann")).toContainText("500");
  await overrideRow(page, "ann").getByRole("button", { name: "Edit override of ann" }).click();
  const dialog = page.getByRole("dialog", { name: "Override of ann" });
  const limit = dialog.getByRole("textbox", { name: "Token limit" });
  await expect(limit).toHaveValue("500");
  await limit.fill("-3");
  await expect(dialog.getByRole("alert")).toBeVisible();
  await expect(dialog.getByRole("button", { name: "Save override" })).toBeDisabled();
  await limit.fill("20");
  await dialog.getByRole("button", { name: "Save override" }).click();
  await expect(dialog).toBeHidden();
  await expect(overrideRow(page, "ann")).toContainText("20");
  await reportFor(request, key, "e1", "ann", 20);
  expect((await checkAs(request, key, "ann")).status).toBe(429);
  await overrideRow(page, "ann").getByRole("button", { name: "Edit override of ann" }).click();
  await page.getByRole("dialog", { name: "Override of ann" }).getByRole("button", { name: "Remove override" }).click();
  await expect(overrideRow(page, "ann")).toHaveCount(0);
  expect((await checkAs(request, key, "ann")).status).toBe(200);
});

test.describe("the audit log @nojs", () => {
  test("filters by action and by who made the change", async ({ page, javaScriptEnabled }) => {
    await signIn(page, SYSTEM_ADMIN);
    const tenantId = uniqueTenantId("audit-f");
    await serverFn(page, "deploy_agent", { agent_name: "bot", tenant_id: tenantId, token_limit: "1000" });
    await serverFn(page, "set_user_override", { tenant_id: tenantId, user_id: "ann", token_limit: "10" });
    await page.goto("/admin");
    if (javaScriptEnabled) await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
    const form = page.getByRole("form", { name: "Filter the audit log" });
    await form.getByLabel("Action").selectOption("user_override_set");
    await form.getByLabel("Tenant").fill(tenantId);
    await form.getByRole("button", { name: "Filter" }).click();
    await expect(page).toHaveURL(/audit_action=user_override_set/);
    const rows = page.getByRole("table", { name: "Audit log" }).getByRole("row");
    await expect(rows).toHaveCount(2); // the heading row and the one override
    await expect(rows.nth(1)).toContainText("user_override_set");
    await expect(rows.nth(1)).toContainText(tenantId);
    await form.getByLabel("Who").fill("somebody-else");
    await form.getByRole("button", { name: "Filter" }).click();
    await expect(page.getByText("No changes match these filters.")).toBeVisible();
    await page.getByRole("link", { name: "Clear filters" }).click();
    await expect(page).not.toHaveURL(/audit_action/);
  });
});
