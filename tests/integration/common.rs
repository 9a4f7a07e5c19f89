//! `spawn_app()` and fresh databases for the integration tests.

use leptos::prelude::LeptosOptions;
use serde_json::Value;
use sqlx::{Connection, Executor};
use std::future::Future;
use tollgate::auth::Role;
use tollgate::clock::Clock;
use tollgate::db::{Backend, Db, DbOptions};
use tollgate::enforce::{Gate, GateConfig};
use tollgate::limits::TokenLimit;
use tollgate::state::{AppParts, AppState};
use tollgate::tenants::store::NewTenant;
use tollgate::tenants::TenantId;

/// 2027-01-15T08:00:00Z, the manual clock's start in every test.
pub const T0: i64 = 1_800_000_000_000;
/// How long reservations last in tests (the clock is moved by hand).
pub const RESERVATION_TTL_MS: i64 = 60_000;

/// A database that exists only for one test.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDatabase {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/tollgate.db", dir.path().display());
        Self { url, backend: Backend::Sqlite, _dir: Some(dir), pg: None }
    }

    /// A new database on the test PostgreSQL server, or `None` when none is configured
    /// outside CI. With `CI=true` a missing server fails the test instead of skipping it.
    pub async fn postgres() -> Option<Self> {
        let admin_url = std::env::var("TOLLGATE_TEST_POSTGRES_URL").unwrap_or_default();
        if admin_url.is_empty() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but TOLLGATE_TEST_POSTGRES_URL is not set: PostgreSQL tests must run in CI"
            );
            eprintln!("skipping the PostgreSQL half: TOLLGATE_TEST_POSTGRES_URL is not set");
            return None;
        }
        sqlx::any::install_default_drivers();
        let name = format!("tollgate_test_{}", rand_suffix());
        let mut admin = sqlx::AnyConnection::connect(&admin_url).await.expect("connect to the test PostgreSQL");
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create test database");
        admin.close().await.ok();
        let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
        Some(Self {
            url: format!("{base}/{name}"),
            backend: Backend::Postgres,
            _dir: None,
            pg: Some((admin_url, name)),
        })
    }

    /// The same database reached at another URL (through a proxy): dropping it cleans nothing.
    pub fn reached_at(&self, url: String) -> Self {
        Self { url, backend: self.backend, _dir: None, pg: None }
    }

    /// Drops a PostgreSQL test database (SQLite files go with their temp dir).
    pub async fn cleanup(self) {
        if let Some((admin_url, name)) = &self.pg {
            if let Ok(mut admin) = sqlx::AnyConnection::connect(admin_url).await {
                let _ =
                    admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
            }
        }
    }
}

fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{}_{}_{n}", std::process::id(), nanos % 1_000_000_000)
}

/// The system admin every test app starts with.
pub const ROOT: (&str, &str) = ("root", "root-password-123");

/// The app on 127.0.0.1:<random port>, with a manual clock.
pub struct TestApp {
    pub base: String,
    /// No cookies: anonymous for the console, and the client agents use with their keys.
    pub client: reqwest::Client,
    /// Signed in as the system admin `ROOT`.
    pub admin: reqwest::Client,
    pub state: AppState,
}

pub async fn spawn_app(db: &TestDatabase) -> TestApp {
    spawn_app_with(db, AppOptions::default()).await
}

/// What a test app is started with, beyond the defaults.
pub struct AppOptions {
    pub site_root: String,
    pub hash_files: bool,
    /// A LiteLLM stand-in's base URL (master key `master`).
    pub litellm_url: Option<String>,
    /// Show LiteLLM's spend on the budget page.
    pub litellm_spend: bool,
    /// The mode of tenants without one of their own.
    pub default_mode: tollgate::limits::EnforcementMode,
    /// How long a request waits for a database connection.
    pub acquire_timeout: std::time::Duration,
    /// What tenants created from the console start with.
    pub tenant_defaults: Option<tollgate::tenants::store::TenantDefaults>,
    /// The OpenAI-compatible proxy's upstreams and limits.
    pub proxy: tollgate::proxy::ProxyConfig,
    /// Who may read `/metrics`.
    pub metrics_access: tollgate::metrics::MetricsAccess,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            site_root: "target/site".into(),
            hash_files: false,
            litellm_url: None,
            litellm_spend: false,
            default_mode: Default::default(),
            acquire_timeout: DbOptions::new("").acquire_timeout,
            tenant_defaults: None,
            proxy: Default::default(),
            metrics_access: Default::default(),
        }
    }
}

/// The app serving the browser bundle from `site_root`, its names hashed or not.
pub async fn spawn_app_serving(db: &TestDatabase, site_root: &str, hash_files: bool) -> TestApp {
    spawn_app_with(db, AppOptions { site_root: site_root.into(), hash_files, ..AppOptions::default() }).await
}

pub async fn spawn_app_with(db: &TestDatabase, options: AppOptions) -> TestApp {
    if std::env::var("TOLLGATE_TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,hyper=info,h2=info,reqwest=info")
            .with_writer(std::io::stderr)
            .try_init();
    }
    let AppOptions {
        site_root,
        hash_files,
        litellm_url,
        litellm_spend,
        default_mode,
        acquire_timeout,
        tenant_defaults,
        proxy,
        metrics_access,
    } = options;
    let pool =
        Db::connect(&DbOptions { acquire_timeout, ..DbOptions::new(&db.url) }).await.expect("connect and migrate");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let leptos_options = LeptosOptions::builder()
        .output_name("tollgate")
        .site_root(site_root.as_str())
        .site_addr(addr)
        .hash_files(hash_files)
        .build();
    let clock = Clock::manual(T0);
    let (gate, _tasks) = Gate::start(
        pool.clone(),
        clock.clone(),
        GateConfig { reservation_ttl_ms: RESERVATION_TTL_MS, prices: Default::default(), default_mode },
    );
    let litellm = litellm_url.map(|url| {
        tollgate::budgets::litellm::LiteLlm::new(&url, "master").expect("client").reading_spend(litellm_spend)
    });
    let parts = AppParts {
        leptos_options,
        db: pool,
        gate,
        clock,
        secure_cookies: false,
        litellm,
        tenant_defaults: tenant_defaults.unwrap_or_default(),
        proxy: tollgate::proxy::Proxy::new(proxy).expect("proxy client"),
        metrics_access,
    };
    let state = AppState::new(parts);
    let router = tollgate::server::routes::router(state.clone());
    tokio::spawn(tollgate::server::listen::serve(listener, router, std::future::pending()));
    let mut app = TestApp { base: format!("http://{addr}"), client: client(), admin: client(), state };
    app.add_user(ROOT.0, ROOT.1, Role::SystemAdmin).await;
    app.admin = app.signed_in(ROOT.0, ROOT.1).await;
    app
}

/// A client with its own cookie jar that does not follow redirects (tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// Runs `test` against a fresh app on SQLite, then on PostgreSQL.
pub async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    on_each_backend_with(AppOptions::default, test).await;
}

/// Runs `test` against a fresh app started with `options()`, on SQLite, then on PostgreSQL.
pub async fn on_each_backend_with<O, F, Fut>(options: O, test: F)
where
    O: Fn() -> AppOptions,
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut databases = vec![TestDatabase::sqlite()];
    databases.extend(TestDatabase::postgres().await);
    for db in databases {
        eprintln!("-- on {:?}", db.backend);
        test(spawn_app_with(&db, options()).await).await;
        db.cleanup().await;
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a console user directly in the store.
    pub async fn add_user(&self, username: &str, password: &str, role: Role) {
        let hash = tollgate::auth::password::hash(password.to_owned()).await.expect("hash");
        let mut conn = self.state.db.pool.acquire().await.expect("connection");
        tollgate::auth::store::create(&mut conn, username, &hash, &role, "test", T0)
            .await
            .expect("create user")
            .expect("user name free");
    }

    /// Signs in through the sign-in server function; returns a client holding the session.
    pub async fn signed_in(&self, username: &str, password: &str) -> reqwest::Client {
        let client = client();
        let res = self.sign_in_form(&client, &[("username", username), ("password", password)]).await;
        let status = res.status();
        assert_eq!(status, 302, "sign-in of {username} failed: {:?}", res.text().await);
        client
    }

    /// Posts the sign-in form as a browser without JavaScript does (`Accept: text/html`).
    pub async fn sign_in_form(&self, client: &reqwest::Client, form: &[(&str, &str)]) -> reqwest::Response {
        client.post(self.url("/api/sign_in")).header("accept", "text/html").form(form).send().await.expect("sign in")
    }

    /// Creates a tenant (with an optional limit) and an agent; returns the agent's key.
    pub async fn tenant_with_agent(&self, id: &str, token_limit: Option<u64>) -> String {
        let tenant = NewTenant {
            id: TenantId::parse(id).expect("valid id"),
            display_name: id.to_owned(),
            token_limit: token_limit.map(|l| TokenLimit::new(l).expect("valid limit")),
        };
        tollgate::agents::store::deploy(&self.state.db, tenant, "test-agent".into(), "test", self.state.clock.now_ms())
            .await
            .expect("deploy")
            .api_key
    }

    /// Gives a tenant a budget of `max_usd` with the default thresholds (80 %, 110 %, 30d)
    /// directly in the store, and tells the gate.
    pub async fn set_budget(&self, id: &str, max_usd: &str, alert: u32, grace: u32) {
        use tollgate::budgets::{BudgetConfig, BudgetForm};
        let form = BudgetForm {
            max_budget: max_usd.into(),
            alert_threshold: alert.to_string(),
            grace_threshold: grace.to_string(),
            budget_duration: "30d".into(),
        };
        let config = BudgetConfig::parse(&form).expect("valid budget");
        let id = TenantId::parse(id).expect("id");
        let mut tx = self.state.db.begin_write().await.expect("tx");
        tollgate::tenants::store::set_budget(&mut tx, &id, Some(&config), "test", self.state.clock.now_ms())
            .await
            .expect("set budget")
            .expect("tenant exists");
        tx.commit().await.expect("commit");
        self.state.gate.tenant_changed(&id).await.expect("tenant changed");
    }

    /// Gives `user_id` of tenant `id` an override of `limit` tokens (`None` removes it) directly
    /// in the store, and tells the gate.
    pub async fn set_user_limit(&self, id: &str, user_id: &str, limit: Option<u64>) {
        use tollgate::overrides::store as overrides;
        let id = TenantId::parse(id).expect("id");
        let now = self.state.clock.now_ms();
        let mut tx = self.state.db.begin_write().await.expect("tx");
        match limit {
            Some(l) => {
                let limit = TokenLimit::new(l).expect("valid limit");
                let outcome =
                    overrides::set(&mut tx, &id, user_id, limit, overrides::SetKind::CreateOrChange, "test", now)
                        .await
                        .expect("set override");
                assert_ne!(outcome, overrides::SetOutcome::NoSuchTenant);
            }
            None => {
                overrides::remove(&mut tx, &id, user_id, "test", now).await.expect("remove override");
            }
        }
        tx.commit().await.expect("commit");
        self.state.gate.tenant_changed(&id).await.expect("tenant changed");
    }

    /// Sets tenant `id`'s enforcement mode (`None`: the server's default) in the store.
    pub async fn set_mode(&self, id: &str, mode: Option<tollgate::limits::EnforcementMode>) {
        let id = TenantId::parse(id).expect("id");
        let mut tx = self.state.db.begin_write().await.expect("tx");
        let now = self.state.clock.now_ms();
        assert!(tollgate::tenants::store::set_enforcement_mode(&mut tx, &id, mode, "test", now)
            .await
            .expect("set mode"));
        tx.commit().await.expect("commit");
        self.state.gate.tenant_changed(&id).await.expect("tenant changed");
    }

    /// A check as `key` with a JSON body.
    pub async fn check_json(&self, key: &str, body: Value) -> (u16, Value) {
        let res = self.agent_post("/api/agent/usage/check", key, &body.to_string()).await;
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A report of `user_id`'s call.
    pub async fn report_for(&self, key: &str, event_id: &str, user_id: &str, tokens: i64) -> Value {
        let body = serde_json::json!({"event_id": event_id, "model": "gpt-4o", "input_tokens": tokens, "output_tokens": 0, "user_id": user_id});
        let res = self.agent_post("/api/agent/usage/report", key, &body.to_string()).await;
        assert!(res.status().is_success(), "report {event_id}: {}", res.status());
        res.json().await.expect("json")
    }

    pub async fn agent_post(&self, path: &str, key: &str, body: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("request")
    }

    pub async fn report(&self, key: &str, event_id: &str, input: i64, output: i64) -> reqwest::Response {
        let body = serde_json::json!({"event_id": event_id, "model": "gpt-4o", "input_tokens": input, "output_tokens": output});
        self.agent_post("/api/agent/usage/report", key, &body.to_string()).await
    }

    pub async fn check(&self, key: &str) -> reqwest::Response {
        self.agent_post("/api/agent/usage/check", key, "").await
    }

    pub async fn status(&self, key: &str) -> Value {
        let res = self.client.get(self.url("/api/agent/usage/status")).bearer_auth(key).send().await.expect("status");
        assert_eq!(res.status(), 200);
        res.json().await.expect("json")
    }

    /// A request with a bearer credential (an agent key or an API token, or none) and an
    /// optional JSON body.
    pub fn bearer_request(
        &self,
        bearer: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::RequestBuilder {
        let mut request = self.client.request(method, self.url(path));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        request
    }

    /// Creates a personal API token through the console's server function as `console`.
    pub async fn api_token_of(&self, console: &reqwest::Client, name: &str) -> String {
        let (status, created) = self.server_fn_as(console, "create_api_token", &[("name", name)]).await;
        assert_eq!(status, 200, "{created}");
        created["token"].as_str().expect("token").to_owned()
    }

    /// One request to the agent or automation API with a bearer credential (or none): the
    /// status and the body as JSON (a text body as a JSON string).
    pub async fn call(
        &self,
        bearer: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let res = self.bearer_request(bearer, method, path, body).send().await.expect("send");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Calls a POST server function as the system admin, form-encoded as the browser does.
    pub async fn server_fn(&self, name: &str, args: &[(&str, &str)]) -> (u16, Value) {
        self.server_fn_as(&self.admin, name, args).await
    }

    pub async fn server_fn_as(&self, client: &reqwest::Client, name: &str, args: &[(&str, &str)]) -> (u16, Value) {
        let res = client.post(self.url(&format!("/api/{name}"))).form(args).send().await.expect("server fn");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Calls a GET server function as the system admin.
    pub async fn server_fn_get(&self, name: &str, query: &str) -> (u16, Value) {
        self.server_fn_get_as(&self.admin, name, query).await
    }

    pub async fn server_fn_get_as(&self, client: &reqwest::Client, name: &str, query: &str) -> (u16, Value) {
        let res = client.get(self.url(&format!("/api/{name}?{query}"))).send().await.expect("server fn");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

/// Awaits concurrent checks and counts the admitted ones; any answer but 200 or 429 fails.
pub async fn count_admitted(checks: Vec<tokio::task::JoinHandle<u16>>) -> u64 {
    let mut admitted = 0;
    for check in checks {
        match check.await.expect("check task") {
            200 => admitted += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    admitted
}
