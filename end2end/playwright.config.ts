import { defineConfig } from "@playwright/test";

// The release build of the app, on its own port and a fresh SQLite file with demo data,
// driven by Debian's chromium (Playwright's own browser downloads are not reachable here).
const port = 3100;
const baseURL = `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  reporter: process.env.CI ? "list" : [["list"], ["html", { open: "never" }]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  projects: [
    { name: "hydrated", use: { javaScriptEnabled: true } },
    // Server-rendered pages must read the same without JavaScript; only tests tagged
    // @nojs run here (the others need the hydrated app to click through dialogs).
    { name: "no-javascript", use: { javaScriptEnabled: false }, grep: /@nojs/ },
  ],
  webServer: {
    command:
      "rm -rf ../target/e2e && mkdir -p ../target/e2e && ../target/release/tollgate serve --demo",
    url: `${baseURL}/healthz`,
    reuseExistingServer: false,
    timeout: 30_000,
    env: {
      DATABASE_URL: "sqlite://../target/e2e/tollgate.db",
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: "../target/site",
      RUST_LOG: "warn",
    },
  },
});
