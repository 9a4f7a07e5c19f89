//! Prometheus metrics (`GET /metrics`), through the `metrics` facade and its Prometheus
//! exporter. Every name the server exports is a constant here ([`ALL`]): the Grafana dashboard
//! and the alert rules in `deploy/` are checked against this list by the tests.
//!
//! Cardinality: labels are small closed sets (mode, outcome, limit, route, status class),
//! except `tenant`, which only the per-tenant series carry and which is capped: the first
//! [`tenant cap`](set_tenant_cap) tenants seen keep their own label, every other tenant is
//! counted under `_other`, so 10,000 tenants make at most cap + 1 series per metric.

use crate::limits::{Decision, LimitKind};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub const CHECKS: &str = "tollgate_checks_total";
pub const TENANT_REFUSALS: &str = "tollgate_tenant_refusals_total";
pub const REPORTS: &str = "tollgate_reports_total";
pub const REPORT_BATCH_SIZE: &str = "tollgate_report_batch_size";
pub const REPORT_COMMIT_SECONDS: &str = "tollgate_report_commit_seconds";
pub const RESERVATIONS_OPEN: &str = "tollgate_reservations_open";
pub const ALERT_DELIVERIES: &str = "tollgate_alert_deliveries_total";
pub const DATABASE_UNAVAILABLE: &str = "tollgate_database_unavailable_total";
pub const HTTP_REQUESTS: &str = "tollgate_http_requests_total";
pub const HTTP_SECONDS: &str = "tollgate_http_request_duration_seconds";
pub const TENANT_USAGE_RATIO: &str = "tollgate_tenant_usage_ratio";
pub const TENANTS_OVER_LIMIT: &str = "tollgate_tenants_over_limit";
pub const PROXY_REQUESTS: &str = "tollgate_proxy_requests_total";
pub const PROXY_SETTLEMENTS: &str = "tollgate_proxy_settlements_total";
pub const PROXY_DRAINS: &str = "tollgate_proxy_drains_total";

/// Every metric name the server exports.
pub const ALL: [&str; 15] = [
    CHECKS,
    TENANT_REFUSALS,
    REPORTS,
    REPORT_BATCH_SIZE,
    REPORT_COMMIT_SECONDS,
    RESERVATIONS_OPEN,
    ALERT_DELIVERIES,
    DATABASE_UNAVAILABLE,
    HTTP_REQUESTS,
    HTTP_SECONDS,
    TENANT_USAGE_RATIO,
    TENANTS_OVER_LIMIT,
    PROXY_REQUESTS,
    PROXY_SETTLEMENTS,
    PROXY_DRAINS,
];

/// The label every tenant beyond the cap is counted under.
pub const OTHER_TENANTS: &str = "_other";
static TENANT_CAP: AtomicUsize = AtomicUsize::new(100);
static LABELLED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder once (later calls, e.g. a second server in the tests, share
/// it) and returns its handle; `None` if another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let latency = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
            let sizes = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(REPORT_BATCH_SIZE.into()), &sizes))
                // Per-tenant gauges of tenants that left the top list disappear after a while.
                .map(|b| b.idle_timeout(MetricKindMask::GAUGE, Some(Duration::from_secs(120))))
                .and_then(|b| b.install_recorder());
            match built {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// The Prometheus text of every metric.
pub fn render() -> String {
    install().map_or_else(String::new, |h| {
        h.run_upkeep();
        h.render()
    })
}

/// Folds recorded histogram samples into their buckets. The exporter keeps raw samples until
/// this runs, so it must run regularly even when nothing scrapes `/metrics` (the gate's
/// upkeep calls it every 5 s), or they pile up in memory.
pub fn upkeep() {
    if let Some(handle) = HANDLE.get().and_then(Option::as_ref) {
        handle.run_upkeep();
    }
}

/// How many tenants get a label of their own (`--metrics-tenant-cap`).
pub fn set_tenant_cap(cap: usize) {
    TENANT_CAP.store(cap, Ordering::Relaxed);
}

/// The tenant's own label while fewer than the cap have one, else `_other`.
fn tenant_label(tenant_id: &str) -> String {
    let Ok(mut seen) = LABELLED.get_or_init(Default::default).lock() else { return OTHER_TENANTS.to_owned() };
    if seen.contains(tenant_id) || seen.len() < TENANT_CAP.load(Ordering::Relaxed) {
        seen.insert(tenant_id.to_owned());
        tenant_id.to_owned()
    } else {
        OTHER_TENANTS.to_owned()
    }
}

fn limit_label(kind: Option<LimitKind>) -> &'static str {
    kind.map_or("none", LimitKind::as_str)
}

/// One decided check.
pub fn check(tenant_id: &str, decision: &Decision) {
    let (outcome, limit) = match (decision.refused_by, decision.would_refuse) {
        (Some(kind), _) => ("refused", Some(kind)),
        (None, Some(kind)) => ("would_refuse", Some(kind)),
        (None, None) => ("allowed", None),
    };
    counter!(CHECKS, "mode" => decision.mode.as_str(), "outcome" => outcome, "limit" => limit_label(limit))
        .increment(1);
    if limit.is_some() {
        let tenant = tenant_label(tenant_id);
        counter!(TENANT_REFUSALS, "tenant" => tenant, "outcome" => outcome, "limit" => limit_label(limit)).increment(1);
    }
}

/// One committed batch of reports.
pub fn reports_committed(recorded: usize, replayed: usize, elapsed: Duration) {
    counter!(REPORTS, "outcome" => "recorded").increment(recorded as u64);
    counter!(REPORTS, "outcome" => "replayed").increment(replayed as u64);
    histogram!(REPORT_BATCH_SIZE).record((recorded + replayed) as f64);
    histogram!(REPORT_COMMIT_SECONDS).record(elapsed.as_secs_f64());
}

/// Reports whose transaction failed (answered 503 or 500).
pub fn reports_failed(n: usize) {
    counter!(REPORTS, "outcome" => "failed").increment(n as u64);
}

pub fn reservations_open(n: u64) {
    gauge!(RESERVATIONS_OPEN).set(n as f64);
}

/// An alert delivery attempt: `delivered` or `failed`.
pub fn alert_delivery(delivered: bool) {
    counter!(ALERT_DELIVERIES, "outcome" => if delivered { "delivered" } else { "failed" }).increment(1);
}

/// One proxied call by endpoint and outcome: `forwarded`, `refused`, `upstream_error`,
/// `upstream_timeout`, `upstream_unreachable`.
pub fn proxy_request(endpoint: &'static str, outcome: &'static str) {
    counter!(PROXY_REQUESTS, "endpoint" => endpoint, "outcome" => outcome).increment(1);
}

/// How a proxied call was settled: `usage` (the upstream's), `estimate` (no usage arrived:
/// worth an alert if it grows), `released` (not charged).
pub fn proxy_settled(how: &'static str) {
    counter!(PROXY_SETTLEMENTS, "how" => how).increment(1);
}

/// A stream whose client left: `completed` (its usage arrived), `timed_out`, `no_permit`.
pub fn proxy_drain(outcome: &'static str) {
    counter!(PROXY_DRAINS, "outcome" => outcome).increment(1);
}

/// A request answered 503 because the database could not be reached.
pub fn database_unavailable() {
    counter!(DATABASE_UNAVAILABLE).increment(1);
}

/// One HTTP request: its route pattern (never the raw path), method and status class.
/// An HTTP method as a label: the standard ones by name, anything a client made up as
/// `other` (every distinct label value is a series kept for the life of the process).
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("other")
}

/// Who may read `/metrics` (it names tenants and their usage).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsAccess {
    /// `--metrics-token`: scrapers send `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// `--metrics-addr`: `/metrics` is served on a listener of its own, not the main one.
    pub own_listener: bool,
}

impl MetricsAccess {
    /// Whether a request to `/metrics` on the main listener, from `peer` with `bearer`, may
    /// read it: with a token, exactly the holders of it; with a listener of its own, nobody
    /// here; with neither, only this machine (Prometheus beside Tollgate, or `curl` on it).
    pub fn allows(
        &self,
        on_own_listener: bool,
        peer_is_loopback: bool,
        bearer: Option<&str>,
    ) -> Result<(), &'static str> {
        if self.own_listener && !on_own_listener {
            return Err("not_here");
        }
        match (&self.token, bearer) {
            (Some(token), Some(given)) if constant_time_eq(token.as_bytes(), given.as_bytes()) => Ok(()),
            (Some(_), _) => Err("token"),
            (None, _) if on_own_listener || peer_is_loopback => Ok(()),
            (None, _) => Err("loopback"),
        }
    }
}

/// Equality that takes as long for every wrong guess of the same length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn http_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let (route, method) = (route.to_owned(), method_label(method));
    counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => class).increment(1);
    histogram!(HTTP_SECONDS, "route" => route, "method" => method).record(elapsed.as_secs_f64());
}

/// The tenants' token usage ratios (used / limit) this period, highest first: the first
/// `cap` get a gauge each; `over` is how many are at or above their limit.
pub fn tenant_usage(top: &[(String, f64)], over: u64) {
    let cap = TENANT_CAP.load(Ordering::Relaxed);
    for (tenant_id, ratio) in top.iter().take(cap) {
        gauge!(TENANT_USAGE_RATIO, "tenant" => tenant_id.clone()).set(*ratio);
    }
    gauge!(TENANTS_OVER_LIMIT).set(over as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standard_methods_become_labels() {
        assert_eq!(method_label("GET"), "GET");
        for made_up in ["FOO1", "get", "PROPFIND", "X".repeat(1000).as_str()] {
            assert_eq!(method_label(made_up), "other");
        }
    }

    #[test]
    fn metrics_are_read_by_token_holders_or_this_machine() {
        let open = MetricsAccess::default();
        assert!(open.allows(false, true, None).is_ok());
        assert_eq!(open.allows(false, false, None), Err("loopback"), "not from another machine without a token");
        let token = MetricsAccess { token: Some("s3cret".into()), own_listener: false };
        assert!(token.allows(false, false, Some("s3cret")).is_ok());
        assert_eq!(token.allows(false, true, Some("s3cre")), Err("token"));
        assert_eq!(token.allows(false, true, None), Err("token"), "a token is needed from this machine too");
        let apart = MetricsAccess { token: None, own_listener: true };
        assert_eq!(apart.allows(false, true, None), Err("not_here"));
        assert!(apart.allows(true, false, None).is_ok());
    }

    /// The `tollgate_…` names a text mentions, without Prometheus's histogram suffixes.
    fn names_in(text: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("tollgate_") {
            let tail = &rest[at..];
            let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
            let name = &tail[..end];
            let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
            names.push(base.to_owned());
            rest = &tail[end..];
        }
        names
    }

    /// The dashboard and the alert rules in `deploy/` only use metrics the server exports, and
    /// between them use every one.
    #[test]
    fn deploy_files_use_exactly_the_exported_metrics() {
        let root = env!("CARGO_MANIFEST_DIR");
        let dashboard = std::fs::read_to_string(format!("{root}/deploy/grafana-dashboard.json")).expect("dashboard");
        let rules = std::fs::read_to_string(format!("{root}/deploy/prometheus-rules.yml")).expect("rules");
        serde_json::from_str::<serde_json::Value>(&dashboard).expect("the dashboard is JSON");
        let mut used: Vec<String> = names_in(&dashboard);
        for name in names_in(&rules) {
            assert!(ALL.contains(&name.as_str()), "deploy/prometheus-rules.yml uses {name}, which is not exported");
            used.push(name);
        }
        for name in &used {
            assert!(ALL.contains(&name.as_str()), "the dashboard uses {name}, which is not exported");
        }
        for name in ALL {
            assert!(used.iter().any(|u| u == name), "{name} is exported but on no dashboard panel or rule");
        }
        assert_eq!(names_in("rate(tollgate_x_bucket[5m]) tollgate_y"), ["tollgate_x", "tollgate_y"]);
    }
}
