//! LiteLLM sync: when `LITELLM_URL` and `LITELLM_MASTER_KEY` are set, saving a tenant's budget
//! first updates the tenant's LiteLLM virtual key (`POST /key/update`), and the database is
//! changed only if that succeeded. Optionally (`--budget-spend-from-litellm`) the budget page
//! shows the key's spend as LiteLLM counts it (`GET /key/info`), cached for 60 s and
//! forgotten when the budget is saved; enforcement always uses Tollgate's own ledger.

use super::rules::BudgetConfig;
use crate::usage::report::micros_to_usd;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long LiteLLM may take to answer before the save fails.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How long a spend read from LiteLLM is shown before it is read again.
pub const SPEND_CACHE_MS: i64 = 60_000;

/// A LiteLLM proxy's admin API.
#[derive(Debug, Clone)]
pub struct LiteLlm {
    url: String,
    master_key: String,
    client: reqwest::Client,
    reads_spend: bool,
    /// Virtual key → (read at, micro-USD).
    spend_cache: Arc<Mutex<HashMap<String, (i64, i64)>>>,
}

impl LiteLlm {
    pub fn new(url: &str, master_key: &str) -> Result<Self, String> {
        let client = reqwest::Client::builder().timeout(TIMEOUT).build().map_err(|e| e.to_string())?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            master_key: master_key.to_owned(),
            client,
            reads_spend: false,
            spend_cache: Arc::default(),
        })
    }

    /// Shows LiteLLM's spend of each virtual key on the budget page instead of our ledger's.
    pub fn reading_spend(mut self, reads_spend: bool) -> Self {
        self.reads_spend = reads_spend;
        self
    }

    pub fn reads_spend(&self) -> bool {
        self.reads_spend
    }

    /// The key's spend this budget period as LiteLLM counts it, in micro-USD: from the cache
    /// when read less than a minute ago (`now` is the server's clock), else from `/key/info`.
    pub async fn key_spend(&self, key: &str, now: i64) -> Result<i64, String> {
        let cached = self.cache().get(key).copied();
        if let Some((_, micros)) = cached.filter(|(read_at, _)| now - read_at < SPEND_CACHE_MS) {
            return Ok(micros);
        }
        let url = format!("{}/key/info", self.url);
        let response = self
            .client
            .get(&url)
            .query(&[("key", key)])
            .bearer_auth(&self.master_key)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("LiteLLM answered {status}"));
        }
        let body: Value = response.json().await.map_err(|_| "LiteLLM's /key/info answer is not JSON".to_owned())?;
        let usd = body["info"]["spend"].as_f64().filter(|s| s.is_finite() && *s >= 0.0);
        let micros = usd.map(|usd| (usd * 1e6).round() as i64).ok_or("LiteLLM's /key/info has no info.spend")?;
        self.cache().insert(key.to_owned(), (now, micros));
        Ok(micros)
    }

    /// Forgets a key's cached spend (after a save, so the page shows fresh figures).
    pub fn forget_spend(&self, key: &str) {
        self.cache().remove(key);
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, i64)>> {
        // A panic while holding the lock cannot leave the map half-written; keep using it.
        self.spend_cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn unreachable(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            format!("LiteLLM did not answer within {} s", TIMEOUT.as_secs())
        } else {
            format!("cannot reach LiteLLM at {}", self.url)
        }
    }

    /// Sets a virtual key's `max_budget` and `budget_duration` (no budget: `max_budget` null).
    /// The error says why, in words for the form: an error status, a timeout, no connection.
    pub async fn update_key(&self, key: &str, budget: Option<&BudgetConfig>) -> Result<(), String> {
        let body = json!({
            "key": key,
            "max_budget": budget.map(|b| micros_to_usd(b.max_budget_micros)),
            "budget_duration": budget.map(|b| b.budget_duration.as_str()),
        });
        let url = format!("{}/key/update", self.url);
        let response = self
            .client
            .post(&url)
            .bearer_auth(&self.master_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let detail: String = response.text().await.unwrap_or_default().chars().take(200).collect();
        Err(format!("LiteLLM answered {status}: {}", detail.trim()))
    }
}
