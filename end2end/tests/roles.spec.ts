import { expect, test } from "@playwright/test";
import { ACME_ADMIN, openUsage, signIn, startDeploy, SYSTEM_ADMIN, tenantRow, uniqueTenantId } from "./helpers";

// Sign-in, roles and isolation, hydrated and with JavaScript off.
test.describe("roles @nojs", () => {
  test("a tenant admin sees only their tenant and is refused elsewhere", async ({ page, javaScriptEnabled }) => {
    await signIn(page, ACME_ADMIN);
    await openUsage(page, javaScriptEnabled);
    await expect(page.getByRole("rowheader")).toHaveCount(1);
    await expect(tenantRow(page, "acme")).toBeVisible();
    await expect(page.getByRole("link", { name: "Admin" })).toHaveCount(0);
    await expect(page.getByRole("button", { name: "Deploy agent" })).toHaveCount(0);
    await expect(page.getByRole("button", { name: /Edit token limit/ })).toHaveCount(0);

    // Another tenant's page answers exactly like a tenant that does not exist.
    const other = await page.goto("/tenants/globex");
    expect(other?.status()).toBe(404);
    await expect(page.getByRole("heading", { name: "Not found" })).toBeVisible();
    await expect(page.getByText("No tenant with id globex")).toBeVisible();

    const admin = await page.goto("/admin");
    expect(admin?.status()).toBe(403);
    await expect(page.getByRole("heading", { name: "Not allowed" })).toBeVisible();

    const own = await page.goto("/tenants/acme");
    expect(own?.status()).toBe(200);
    await expect(page.getByRole("heading", { name: "Acme Corp (acme)" })).toBeVisible();
    await expect(page.getByRole("table", { name: "Agents" })).toContainText("demo-agent");
    await expect(page.getByRole("link", { name: /Revoke key/ })).toHaveCount(0);
  });

  test("signing out sends protected pages to sign-in", async ({ page }) => {
    await signIn(page, SYSTEM_ADMIN);
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/sign-in/);
    for (const path of ["/", "/admin", "/tenants/acme"]) {
      await page.goto(path);
      await expect(page).toHaveURL(new RegExp(`/sign-in\\?next=${encodeURIComponent(path).replace(/[/?]/g, "\\$&")}`));
      await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
    }
  });

  test("a wrong password is refused with a message", async ({ page }) => {
    await page.goto("/sign-in");
    await page.getByLabel("User name").fill("admin");
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert")).toHaveText("Wrong user name or password");
    await expect(page.getByRole("button", { name: "Sign out" })).toHaveCount(0);
  });
});

test.describe("system admin", () => {
  test.beforeEach(async ({ page }) => signIn(page, SYSTEM_ADMIN));

  test("sees every tenant and the Admin tab, and creates a tenant admin", async ({ page }) => {
    await openUsage(page, true);
    for (const id of ["acme", "globex", "initech", "umbrella"]) {
      await expect(tenantRow(page, id)).toBeVisible();
    }
    await page.getByRole("link", { name: "Admin" }).click();
    await expect(page.getByRole("heading", { name: "Admin", exact: true })).toBeVisible();
    const username = uniqueTenantId("ops");
    const form = page.getByRole("form", { name: "Create a tenant admin" });
    await form.getByLabel("User name").fill(username);
    await form.getByLabel("Tenant ID").fill("globex");
    await form.getByLabel("Password").fill("globex-ops-password");
    await form.getByRole("button", { name: "Create tenant admin" }).click();
    await expect(page.getByText(`Tenant admin ${username} created for globex.`)).toBeVisible();
    await expect(page.getByRole("table", { name: "Console users" })).toContainText(username);
  });

  test("names with markup render as text, and a revoked key is refused", async ({ page, request }) => {
    await openUsage(page, true);
    const tenantId = uniqueTenantId("xss");
    const evil = "<script>window.__pwned=1</script><b>bold</b>";
    const dialog = await startDeploy(page, evil, tenantId);
    await expect(dialog.getByText("New tenant")).toBeVisible();
    await dialog.getByRole("button", { name: "Deploy", exact: true }).click();
    const key = await dialog.getByLabel("API key").inputValue();
    await dialog.getByRole("button", { name: "Done" }).click();

    await page.goto(`/tenants/${tenantId}`);
    await expect(page.getByRole("rowheader", { name: evil })).toBeVisible();
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    await expect(page.locator("main b")).toHaveCount(0);

    const auth = { Authorization: `Bearer ${key}` };
    expect((await request.post("/api/agent/usage/check", { headers: auth })).status()).toBe(200);
    // Revoking asks first: the link only offers the real button.
    await page.getByRole("link", { name: `Revoke key of ${evil}` }).click();
    const confirm = page.getByRole("form", { name: `Confirm revoking the key of ${evil}` });
    await expect(confirm).toContainText("refused at once");
    expect((await request.post("/api/agent/usage/check", { headers: auth })).status()).toBe(200);
    await confirm.getByRole("button", { name: "Revoke key" }).click();
    await expect(page.getByRole("row").filter({ hasText: "Revoked" })).toBeVisible();
    expect((await request.post("/api/agent/usage/check", { headers: auth })).status()).toBe(401);
  });

  test("an SQL-looking tenant id is rejected and creates nothing", async ({ page }) => {
    await openUsage(page, true);
    const dialog = await startDeploy(page, "bot", "x'; DROP TABLE tenants; --");
    await expect(dialog.getByText("May contain only lowercase letters")).toBeVisible();
    await expect(dialog.getByRole("button", { name: "Deploy", exact: true })).toBeDisabled();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await expect(tenantRow(page, "acme")).toBeVisible();
  });
});
