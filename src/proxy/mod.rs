//! The OpenAI-compatible proxy (`/v1/*`): agents point an OpenAI SDK's base URL at Tollgate
//! and use their agent key as the API key; every call is admitted through the gate (a
//! reservation estimated from the prompt and the allowed output, priced from the price file
//! or the genai-prices database), forwarded to the upstream serving its model with the upstream's key, and settled
//! from the answer's `usage` — for streams when the stream ends, also when the client left
//! early. Refusals and the proxy's own errors have OpenAI's error shape.
//!
//! Pure parts: `upstreams` (configuration and routing), `estimate` (token counting), `openai`
//! (the wire format), `errors` (the proxy's own answers). I/O: `routes` (the handlers), `relay`
//! (streams), `settle`.

mod errors;
pub mod estimate;
pub mod openai;
mod relay;
pub mod routes;
mod settle;
pub mod upstreams;

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use upstreams::Upstreams;

/// The output reserved for a chat call that sets no `max_tokens` / `max_completion_tokens`.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 4096;
/// How long the proxy keeps reading a stream whose client left, waiting for its usage.
pub const DEFAULT_DRAIN_SECS: u64 = 30;
/// How many such streams may be drained at once; beyond it the estimate is settled.
pub const DEFAULT_MAX_DRAINS: usize = 64;
/// Bodies up to this size are parsed and counted on the request's own worker: with runs cut
/// short for the tokenizer (`estimate`), that is well under a millisecond.
const INLINE_BODY_BYTES: usize = 16 * 1024;

/// The proxy's settings.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub upstreams: Upstreams,
    pub default_max_output_tokens: u64,
    pub drain_timeout: Duration,
    pub max_drains: usize,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            upstreams: Upstreams::default(),
            default_max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
            drain_timeout: Duration::from_secs(DEFAULT_DRAIN_SECS),
            max_drains: DEFAULT_MAX_DRAINS,
        }
    }
}

/// The proxy's shared parts: its settings, one HTTP client (a connection pool per upstream)
/// and the permits for draining abandoned streams.
#[derive(Clone)]
pub struct Proxy(Arc<Inner>);

struct Inner {
    config: ProxyConfig,
    client: reqwest::Client,
    drains: Arc<Semaphore>,
    /// Permits to parse and count a large body on the blocking pool: one per two cores (at
    /// least one), so large prompts queue for CPU and the other cores keep serving requests.
    counting: Semaphore,
    /// Settlements started and not yet handed to the gate's writer: shutdown waits for them.
    settling: tokio::sync::watch::Sender<usize>,
}

/// Held while a settlement runs in the background; dropping it counts it done.
struct Settling(tokio::sync::watch::Sender<usize>);

impl Drop for Settling {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Proxy {
    pub fn new(config: ProxyConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| e.to_string())?;
        if !config.upstreams.is_empty() {
            std::thread::spawn(estimate::warm_up);
        }
        let drains = Arc::new(Semaphore::new(config.max_drains));
        let counting = Semaphore::new((std::thread::available_parallelism().map_or(1, |n| n.get()) / 2).max(1));
        let (settling, _) = tokio::sync::watch::channel(0);
        Ok(Self(Arc::new(Inner { config, client, drains, counting, settling })))
    }

    /// Runs `work` on a body of `size` bytes: small bodies right here (microseconds of work),
    /// larger ones on the blocking pool behind a permit per core, so a huge prompt never holds
    /// an async worker (a stalled worker stalls every request queued on it, `/healthz` too).
    async fn off_worker<T: Send + 'static>(
        &self,
        size: usize,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, crate::error::AppError> {
        if size <= INLINE_BODY_BYTES {
            return Ok(work());
        }
        let _permit = self.0.counting.acquire().await.map_err(|_| crate::error::AppError::internal())?;
        tokio::task::spawn_blocking(work).await.map_err(|e| {
            tracing::error!(error = %e, "counting a request body failed");
            crate::error::AppError::internal()
        })
    }

    /// Runs a settlement behind the answer: counted until it has reached the gate (shutdown
    /// waits for it), its outcome counted in the metrics.
    fn spawn_settlement(&self, settlement: impl std::future::Future<Output = settle::Settled> + Send + 'static) {
        self.spawn_counted(async move { crate::metrics::proxy_settled(settlement.await.as_str()) });
    }

    /// Runs `work` in a task of its own that shutdown waits for (`finish_settlements`): a
    /// proxied call, which must reach its settlement whether or not its client still waits.
    fn spawn_counted<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.0.settling.send_modify(|n| *n += 1);
        let running = Settling(self.0.settling.clone());
        tokio::spawn(async move {
            let done = work.await;
            drop(running);
            done
        })
    }

    /// Waits (at most `limit`) until every proxied call and background settlement has reached
    /// the gate, so a shutdown loses no usage of calls already made; answers how many did not.
    pub async fn finish_settlements(&self, limit: Duration) -> usize {
        let mut count = self.0.settling.subscribe();
        let _ = tokio::time::timeout(limit, count.wait_for(|n| *n == 0)).await;
        let left = *count.borrow();
        left
    }

    pub fn config(&self) -> &ProxyConfig {
        &self.0.config
    }
}
