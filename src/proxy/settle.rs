//! The end of a proxied call: its usage recorded as one of the agent's reports (priced from
//! the table; the event id is the proxy's own, so a retried settlement counts once), which also
//! settles the call's reservation — or, for a call that was not made or failed upstream, the
//! reservation given back with nothing recorded. A `Pending` that is dropped without either
//! (a panic on the way) gives its reservation back by itself: no admitted call keeps capacity
//! it will never use.

use super::estimate::Estimate;
use crate::agents::Principal;
use crate::enforce::{Gate, ReservationId};
use crate::usage::report::{ReportBody, UsageReport};
use crate::usage::tokens::TokenUsage;
use backon::{ExponentialBuilder, Retryable};
use std::time::Duration;

/// How a call was settled, for the metrics and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// From the upstream's `usage`.
    Usage,
    /// The estimate, because no usage arrived (the stream broke, or its client left and the
    /// drain ran out of time or permits): flagged in the log and the metrics.
    Estimate,
    /// Released: nothing recorded (an upstream error or timeout).
    Released,
}

impl Settled {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Usage => "usage",
            Self::Estimate => "estimate",
            Self::Released => "released",
        }
    }
}

/// An admitted call waiting to be settled.
pub struct Pending {
    gate: Gate,
    pub agent: Principal,
    pub model: String,
    pub user_id: Option<String>,
    /// The upstream's provider (`openai`, `anthropic`, …), to find the model's price.
    provider: Option<String>,
    /// Taken when the call is settled or released; still here when dropped: released then.
    reservation: Option<ReservationId>,
    pub estimate: Estimate,
    event_id: String,
}

impl Pending {
    pub fn new(
        gate: Gate,
        agent: Principal,
        model: String,
        user_id: Option<String>,
        reservation: Option<ReservationId>,
        estimate: Estimate,
    ) -> Self {
        Self { gate, agent, model, user_id, provider: None, reservation, estimate, event_id: new_event_id() }
    }

    /// Prices the call as served by `provider` (the upstream's, when it names one).
    pub fn served_by(mut self, provider: Option<String>) -> Self {
        self.provider = provider;
        self
    }

    /// Records the call's usage, or the estimate when there is none; retried in the
    /// background while the database is unavailable (the answer is already on its way).
    pub async fn settle(mut self, usage: Option<TokenUsage>) -> Settled {
        let (settled, usage) = match usage {
            Some(u) => (Settled::Usage, u),
            None => {
                tracing::warn!(tenant_id = %self.agent.tenant_id, model = %self.model, event_id = %self.event_id,
                    estimated_tokens = self.estimate.total(), "proxied call settled at its estimate: no usage arrived");
                (
                    Settled::Estimate,
                    TokenUsage::plain(
                        i64::try_from(self.estimate.input_tokens).unwrap_or(i64::MAX),
                        i64::try_from(self.estimate.output_tokens).unwrap_or(i64::MAX),
                    ),
                )
            }
        };
        let body = ReportBody {
            event_id: self.event_id.clone(),
            model: self.model.clone(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_tokens,
            cache_write_5m_tokens: usage.cache_write_5m_tokens,
            cache_write_1h_tokens: usage.cache_write_1h_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            provider: self.provider.clone(),
            user_id: self.user_id.clone(),
            cost_usd: None,
            reservation_id: self.reservation.map(|r| r.to_string()),
        };
        let report = match UsageReport::parse(body, self.gate.prices(), self.gate.now()) {
            Ok(report) => report,
            Err(e) => {
                tracing::error!(tenant_id = %self.agent.tenant_id, field = %e.field, message = %e.message,
                    "a proxied call's usage could not be recorded");
                self.release().await;
                return Settled::Released;
            }
        };
        // The report names the reservation: recording it settles it.
        self.reservation = None;
        let (gate, agent) = (self.gate.clone(), self.agent.clone());
        let record = move || {
            let (gate, agent, report) = (gate.clone(), agent.clone(), report.clone());
            async move { gate.settle_behind(&agent, report).await }
        };
        if let Err(first) = record().await {
            // The upstream's answer stands; keep trying to record it (same event id: once).
            tracing::warn!(error = %first, event_id = %self.event_id, "recording a proxied call failed; retrying");
            let backoff = ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(10))
                .with_max_times(12);
            let event_id = std::mem::take(&mut self.event_id);
            tokio::spawn(async move {
                if let Err(e) = record.retry(backoff).await {
                    tracing::error!(error = %e, %event_id, "a proxied call's usage was not recorded");
                }
            });
        }
        settled
    }

    /// Gives the reservation back and records nothing.
    pub async fn release(mut self) -> Settled {
        if let Some(reservation) = self.reservation.take() {
            if let Err(e) = self.gate.release(&self.agent.tenant_id, reservation).await {
                // It expires by itself at its TTL.
                tracing::warn!(error = %e, "releasing a proxied call's reservation failed");
            }
        }
        Settled::Released
    }
}

/// A proxied call's own event id. Time-ordered (UUIDv7): events are stored in
/// (tenant_id, event_id) order, so consecutive settlements append to the same page instead of
/// splitting random ones.
fn new_event_id() -> String {
    format!("proxy-{}", uuid::Uuid::now_v7())
}

impl Drop for Pending {
    /// Neither settled nor released (a panic between admission and settlement): the reservation
    /// goes back, so capacity is not held for the whole TTL by a call that will never report.
    fn drop(&mut self) {
        let Some(reservation) = self.reservation.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (gate, tenant_id) = (self.gate.clone(), self.agent.tenant_id.clone());
        tracing::warn!(%tenant_id, event_id = %self.event_id, "a proxied call ended unsettled; its reservation is released");
        crate::metrics::proxy_settled(Settled::Released.as_str());
        runtime.spawn(async move {
            if let Err(e) = gate.release(&tenant_id, reservation).await {
                tracing::warn!(error = %e, "releasing an abandoned reservation failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxys_event_ids_sort_in_the_order_calls_were_made() {
        // Time-ordered ids keep consecutive settlements on the same page of usage_events;
        // random ids would scatter every insert (and its write) across the table.
        let mut ids = Vec::new();
        for _ in 0..64 {
            ids.push(new_event_id());
            std::thread::sleep(Duration::from_micros(100));
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids.iter().all(|id| id.starts_with("proxy-") && id.len() <= crate::usage::report::MAX_ID_CHARS));
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
    }
}
