import { expect, type APIRequestContext, type Page } from "@playwright/test";

/** A tenant id no earlier run has used. */
export function uniqueTenantId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Opens the usage page and, with JavaScript on, waits until the app has hydrated. */
export async function openUsage(page: Page, javaScriptEnabled: boolean, path = "/"): Promise<void> {
  await page.goto(path);
  await expect(page.getByRole("table", { name: "Token usage by tenant" })).toBeVisible();
  if (javaScriptEnabled) {
    await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  }
}

/** The row of one tenant in the usage table. */
export function tenantRow(page: Page, tenantId: string) {
  return page.getByRole("row").filter({ has: page.getByRole("rowheader").filter({ hasText: tenantId }) });
}

/** Reports one call's usage through the agent API. */
export async function report(request: APIRequestContext, key: string, eventId: string, input: number, output: number) {
  return request.post("/api/agent/usage/report", {
    headers: { Authorization: `Bearer ${key}` },
    data: { event_id: eventId, model: "gpt-4o-mini", input_tokens: input, output_tokens: output },
  });
}

export async function check(request: APIRequestContext, key: string) {
  return request.post("/api/agent/usage/check", { headers: { Authorization: `Bearer ${key}` } });
}
