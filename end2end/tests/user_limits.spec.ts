import { expect, test, type APIRequestContext } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { checkAs, serverFn, signIn, SYSTEM_ADMIN, uniqueTenantId } from "./helpers";

// Per-user overrides and enforcement modes, set with the command line (another process, as an
// operator would; the server picks changes up within 5 s) and seen through the agent API and
// the tenant page, hydrated and with JavaScript off. Each run makes its own tenant.

/** Runs `tollgate` against the end-to-end server's database. */
function cli(...args: string[]) {
  execFileSync("../target/release/tollgate", args, {
    env: { ...process.env, DATABASE_URL: "sqlite://../target/e2e/tollgate.db", RUST_LOG: "warn" },
  });
}


/** Waits until a check of `user` is answered `status` (the server refreshes every 5 s). */
async function eventually(request: APIRequestContext, key: string, user: string, status: number) {
  await expect.poll(async () => (await checkAs(request, key, user)).status, { timeout: 15_000 }).toBe(status);
}

test.describe("per-user overrides and modes @nojs", () => {
  test("an override refuses one user while another is allowed; monitor counts what enforce refuses", async ({
    page,
    request,
    javaScriptEnabled,
  }) => {
    await signIn(page, SYSTEM_ADMIN);
    const tenantId = uniqueTenantId("users");
    const deployed = await serverFn(page, "deploy_agent", { agent_name: "bot", tenant_id: tenantId, token_limit: "1000" });
    const key: string = deployed.api_key;
    const reported = await request.post("/api/agent/usage/report", {
      headers: { Authorization: `Bearer ${key}` },
      data: { event_id: "e1", model: "gpt-4o-mini", input_tokens: 100, output_tokens: 0, user_id: "ann" },
    });
    expect(reported.status()).toBe(201);

    // An override below the tenant's limit: ann (100 used of 100) is refused, bob is not.
    cli("tenant", "set-user-limit", tenantId, "ann", "100");
    await eventually(request, key, "ann", 429);
    expect((await checkAs(request, key, "ann")).body.limit).toBe("user_token_limit");
    expect((await checkAs(request, key, "bob")).status).toBe(200);

    // Monitor: nothing refused, each would-be refusal counted and shown.
    cli("tenant", "set-mode", tenantId, "monitor");
    await eventually(request, key, "ann", 200);
    expect((await checkAs(request, key, "ann")).body.would_refuse).toBe("user_token_limit");
    await page.goto(`/tenants/${tenantId}`);
    if (javaScriptEnabled) await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
    await expect(page.getByTestId("mode")).toContainText("Monitor (never refuse)");
    await expect(page.getByTestId("would-refuse")).toContainText(/Would have blocked \d+ calls? this period\./);
    const row = page.getByRole("table", { name: "User overrides" }).getByRole("row", { name: /ann/ });
    await expect(row).toContainText("100");
    await expect(row).toContainText("100.0%");

    // Enforce again: ann is refused, and the period's count stays on the page.
    cli("tenant", "set-mode", tenantId, "enforce");
    await eventually(request, key, "ann", 429);
    await page.reload();
    await expect(page.getByTestId("mode")).toContainText("Enforce");
    await expect(page.getByTestId("would-refuse")).toBeVisible();
  });
});
