//! The agent HTTP API: check before a call, report after it, read the current status.
//! Every route authenticates the agent by its API key and acts on that agent's tenant only.

use super::report::{micros_to_usd, ReportBody, UsageReport};
use super::store::{period_counters, Counters, NewEvent};
use crate::agents::auth::AuthenticatedAgent;
use crate::agents::store::AgentPrincipal;
use crate::error::AppError;
use crate::limits::period::{current_period, rfc3339, seconds_until, Period};
use crate::limits::{decide, usage_pct, TokenDecision, TokenLimit};
use crate::server::json::ValidJson;
use crate::server::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/agent/usage/check", post(check))
        .route("/api/agent/usage/report", post(report))
        .route("/api/agent/usage/status", get(status))
}

/// `POST /api/agent/usage/check`'s body; empty today, strict so a misspelt field is an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {}

/// The enforcement view of one agent's tenant at one instant.
struct TenantNow {
    tenant_id: String,
    token_limit: Option<TokenLimit>,
    period: Period,
    now: i64,
}

impl TenantNow {
    fn of(agent: &AgentPrincipal, now: i64) -> Self {
        let period_days = u32::try_from(agent.period_days).unwrap_or(crate::limits::period::DEFAULT_PERIOD_DAYS);
        Self {
            tenant_id: agent.tenant_id.clone(),
            token_limit: agent.token_limit.and_then(|l| TokenLimit::new(u64::try_from(l).ok()?).ok()),
            period: current_period(agent.period_anchor, period_days, now),
            now,
        }
    }

    fn remaining(&self, used: u64) -> Option<u64> {
        self.token_limit.map(|l| l.get().saturating_sub(used))
    }
}

async fn check(
    State(state): State<AppState>,
    AuthenticatedAgent(agent): AuthenticatedAgent,
    ValidJson(CheckBody {}): ValidJson<CheckBody>,
) -> Result<Response, AppError> {
    let t = TenantNow::of(&agent, state.clock.now_ms());
    let used = period_counters(&state.db.pool, &t.tenant_id, t.period.start).await?.total_tokens();
    Ok(match decide(used, t.token_limit) {
        TokenDecision::Allowed { remaining_tokens } => Json(json!({
            "allowed": true,
            "tenant_id": t.tenant_id,
            "used_tokens": used,
            "token_limit": t.token_limit,
            "remaining_tokens": remaining_tokens,
            "resets_at": rfc3339(t.period.resets_at),
        }))
        .into_response(),
        TokenDecision::Refused { used_tokens, token_limit } => refusal(&t, used_tokens, token_limit),
    })
}

/// 429 with `Retry-After` (seconds to the reset) and a body that says which limit and by how much.
fn refusal(t: &TenantNow, used_tokens: u64, token_limit: TokenLimit) -> Response {
    let body = json!({
        "error": "token_limit_exceeded",
        "limit": "token_limit",
        "message": format!(
            "Tenant {} has used {used_tokens} of its {token_limit} tokens this period; calls resume at {}",
            t.tenant_id,
            rfc3339(t.period.resets_at)
        ),
        "allowed": false,
        "tenant_id": t.tenant_id,
        "used_tokens": used_tokens,
        "token_limit": token_limit,
        "usage_pct": usage_pct(used_tokens, token_limit),
        "resets_at": rfc3339(t.period.resets_at),
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds_until(t.now, t.period.resets_at)));
    response
}

async fn report(
    State(state): State<AppState>,
    AuthenticatedAgent(agent): AuthenticatedAgent,
    ValidJson(body): ValidJson<ReportBody>,
) -> Result<Response, AppError> {
    let report = UsageReport::try_from(body)?;
    let t = TenantNow::of(&agent, state.clock.now_ms());
    let event_id = report.event_id.clone();
    let cost_micros = report.cost_micros;
    let recorded = state
        .writer
        .record(NewEvent {
            tenant_id: t.tenant_id.clone(),
            agent_id: agent.agent_id,
            report,
            occurred_at: t.now,
            period_start: t.period.start,
        })
        .await?;
    let used = recorded.counters.total_tokens();
    let status = if recorded.recorded { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        status,
        Json(json!({
            "recorded": recorded.recorded,
            "event_id": event_id,
            "tenant_id": t.tenant_id,
            "cost_usd": micros_to_usd(cost_micros),
            "used_tokens": used,
            "token_limit": t.token_limit,
            "remaining_tokens": t.remaining(used),
            "resets_at": rfc3339(t.period.resets_at),
        })),
    )
        .into_response())
}

async fn status(
    State(state): State<AppState>,
    AuthenticatedAgent(agent): AuthenticatedAgent,
) -> Result<Response, AppError> {
    let t = TenantNow::of(&agent, state.clock.now_ms());
    let c: Counters = period_counters(&state.db.pool, &t.tenant_id, t.period.start).await?;
    let used = c.total_tokens();
    Ok(Json(json!({
        "tenant_id": t.tenant_id,
        "input_tokens": c.input_tokens,
        "output_tokens": c.output_tokens,
        "total_tokens": used,
        "cost_usd": micros_to_usd(c.cost_micros),
        "event_count": c.event_count,
        "token_limit": t.token_limit,
        "remaining_tokens": t.remaining(used),
        "usage_pct": t.token_limit.map(|l| usage_pct(used, l)),
        "period_start": rfc3339(t.period.start),
        "resets_at": rfc3339(t.period.resets_at),
    }))
    .into_response())
}
