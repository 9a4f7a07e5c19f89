//! Sends stored alerts to the configured webhook: claims due alerts, POSTs each as JSON with
//! retries and exponential back-off (`backon`), records the outcome. It runs beside the
//! server, so a slow or failing receiver never slows a report; an alert that cannot be
//! delivered stays visible on the budget page with its last error and is tried again later.

use super::store;
use crate::clock::Clock;
use crate::db::Db;
use backon::{ExponentialBuilder, Retryable};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Where and how alerts are sent.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: String,
    /// Tries per delivery round after the first (each waits twice as long as the one before).
    pub retries: usize,
    pub first_backoff: Duration,
    /// When a round fails, the next one starts this much later.
    pub round_backoff: Duration,
    pub timeout: Duration,
}

impl WebhookConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            retries: 3,
            first_backoff: Duration::from_millis(200),
            round_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
        }
    }
}

/// How long a claim holds an alert for one notifier (longer than a round can take).
const CLAIM_MS: i64 = 120_000;
/// Alerts claimed per poll.
const BATCH: i64 = 20;
const POLL: Duration = Duration::from_secs(1);

/// Starts the notifier task.
pub fn spawn(db: Db, clock: Clock, config: WebhookConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match reqwest::Client::builder().timeout(config.timeout).build() {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the webhook client; alerts will not be sent");
                return;
            }
        };
        loop {
            if let Err(e) = deliver_due(&db, &clock, &client, &config).await {
                tracing::warn!(error = %e, "alert delivery round failed");
            }
            tokio::time::sleep(POLL).await;
        }
    })
}

/// One poll: claim what is due and deliver it.
async fn deliver_due(
    db: &Db,
    clock: &Clock,
    client: &reqwest::Client,
    config: &WebhookConfig,
) -> Result<(), sqlx::Error> {
    let now = clock.now_ms();
    for alert in store::claim_due(&db.pool, now, now + CLAIM_MS, BATCH).await? {
        let tries = AtomicU32::new(0);
        let send = || async {
            tries.fetch_add(1, Ordering::Relaxed);
            let response = client.post(&config.url).json(&alert).send().await.map_err(|e| transport_error(&e))?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("the webhook answered {status}"))
            }
        };
        let backoff = ExponentialBuilder::default().with_min_delay(config.first_backoff).with_max_times(config.retries);
        let outcome = send.retry(backoff).await;
        let tries = tries.load(Ordering::Relaxed);
        match outcome {
            Ok(()) => {
                crate::metrics::alert_delivery(true);
                store::mark_delivered(&db.pool, alert.id, tries, clock.now_ms()).await?;
                tracing::info!(alert = alert.id, tenant_id = %alert.tenant_id, kind = alert.kind.as_str(), tries, "alert delivered");
            }
            Err(error) => {
                crate::metrics::alert_delivery(false);
                let retry_at = clock.now_ms() + config.round_backoff.as_millis() as i64;
                store::mark_failed(&db.pool, alert.id, tries, &error, retry_at).await?;
                tracing::warn!(alert = alert.id, tenant_id = %alert.tenant_id, tries, %error, "alert not delivered; will retry");
            }
        }
    }
    Ok(())
}

/// What went wrong on the way to the webhook, in words that never contain its URL: Slack and
/// Teams webhook URLs carry their secret in the path, and the error is stored (tenant admins
/// see it in the alert history) and logged. reqwest's own message names the URL.
fn transport_error(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_body() || e.is_decode() {
        "the answer could not be read"
    } else {
        "the request failed"
    };
    format!("the webhook {what}")
}
