import { expect, type APIRequestContext, type Page } from "@playwright/test";

/** A tenant id no earlier run has used. */
export function uniqueTenantId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Demo sign-ins, created by `tollgate serve --demo`. */
export const SYSTEM_ADMIN = { username: "admin", password: "tollgate-demo-admin" };
export const ACME_ADMIN = { username: "acme-admin", password: "tollgate-demo-acme" };

/** Signs in through the sign-in page (works with JavaScript on or off). */
export async function signIn(page: Page, who: { username: string; password: string }, path = "/"): Promise<void> {
  await page.goto(`/sign-in?next=${encodeURIComponent(path)}`);
  await page.getByLabel("User name").fill(who.username);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
}

/** Opens the usage page and, with JavaScript on, waits until the app has hydrated. */
export async function openUsage(page: Page, javaScriptEnabled: boolean, path = "/"): Promise<void> {
  await page.goto(path);
  await expect(page.getByRole("table", { name: "Token usage by tenant" })).toBeVisible();
  if (javaScriptEnabled) {
    await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  }
}

/** Opens the deploy dialog and fills in the agent name and tenant id. */
export async function startDeploy(page: Page, agentName: string, tenantId: string) {
  await page.getByRole("button", { name: "Deploy agent" }).click();
  const dialog = page.getByRole("dialog", { name: "Deploy agent" });
  await dialog.getByLabel("Agent name").fill(agentName);
  await dialog.getByLabel("Tenant ID").fill(tenantId);
  return dialog;
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

/** Calls a server function as the signed-in user of `page` (same cookies, same origin). */
export async function serverFn(page: Page, name: string, form: Record<string, string>) {
  const res = await page.request.post(`/api/${name}`, {
    form,
    headers: { Origin: new URL(page.url()).origin, Accept: "application/json" },
  });
  expect(res.status(), await res.text()).toBe(200);
  return res.json();
}

/** A check naming an end user; the status and the body. */
export async function checkAs(request: APIRequestContext, key: string, user: string) {
  const res = await request.post("/api/agent/usage/check", {
    headers: { Authorization: `Bearer ${key}` },
    data: { user_id: user },
  });
  return { status: res.status(), body: await res.json() };
}
