//! The agent HTTP API: check before a call (optionally reserving an estimate), report after
//! it (settling the reservation), read the current status. Every route authenticates the
//! agent by its API key and acts on that agent's tenant only.

use super::report::{micros_to_usd, ReportBody, UsageReport, MAX_TOKENS_PER_EVENT};
use super::store::{period_counters, NewEvent};
use crate::agents::auth::AuthenticatedAgent;
use crate::enforce::CheckOutcome;
use crate::error::AppError;
use crate::limits::period::{rfc3339, seconds_until};
use crate::limits::usage_pct;
use crate::server::json::ValidJson;
use crate::server::state::AppState;
use crate::validation::FieldError;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/agent/usage/check", post(check))
        .route("/api/agent/usage/report", post(report))
        .route("/api/agent/usage/status", get(status))
}

/// `POST /api/agent/usage/check`'s body (it may be empty).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    /// Tokens the coming call is expected to use; admitted only if they fit, then reserved.
    #[serde(default)]
    estimated_tokens: Option<i64>,
}

fn estimate(body: &CheckBody) -> Result<u64, FieldError> {
    match body.estimated_tokens {
        None => Ok(0),
        Some(n) if n < 0 => Err(FieldError::new("estimated_tokens", "must not be negative")),
        Some(n) if n > 2 * MAX_TOKENS_PER_EVENT => {
            Err(FieldError::new("estimated_tokens", format!("must be at most {}", 2 * MAX_TOKENS_PER_EVENT)))
        }
        Some(n) => Ok(n as u64),
    }
}

async fn check(
    State(state): State<AppState>,
    AuthenticatedAgent(agent): AuthenticatedAgent,
    ValidJson(body): ValidJson<CheckBody>,
) -> Result<Response, AppError> {
    let estimated_tokens = estimate(&body)?;
    let c = state.enforcer.check(&agent, estimated_tokens, state.clock.now_ms()).await?;
    if !c.allowed {
        return Ok(refusal(&c, estimated_tokens));
    }
    Ok(Json(Allowed {
        allowed: true,
        tenant_id: &c.tenant_id,
        used_tokens: c.used_tokens,
        reserved_tokens: c.reserved_tokens,
        token_limit: c.token_limit.map(|l| l.get()),
        remaining_tokens: c.token_limit.map(|l| l.get().saturating_sub(c.used_tokens + c.reserved_tokens)),
        resets_at: rfc3339(c.period.resets_at),
        reservation_id: c.reservation.as_ref().map(|r| r.0.as_str()),
        reservation_expires_at: c.reservation.as_ref().map(|r| rfc3339(r.1)),
    })
    .into_response())
}

/// The 200 answer of a check (a struct, not `json!`: this is the hottest response).
#[derive(Serialize)]
struct Allowed<'a> {
    allowed: bool,
    tenant_id: &'a str,
    used_tokens: u64,
    reserved_tokens: u64,
    token_limit: Option<u64>,
    remaining_tokens: Option<u64>,
    resets_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reservation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reservation_expires_at: Option<String>,
}

/// 429 with `Retry-After` (seconds to the reset) and a body that says which limit and by how much.
fn refusal(c: &CheckOutcome, estimated_tokens: u64) -> Response {
    let limit = c.token_limit.map(|l| l.get()).unwrap_or_default();
    let message = if estimated_tokens > 0 && c.used_tokens < limit {
        format!(
            "Tenant {} has {} tokens used and {} reserved of its {limit} this period; {estimated_tokens} more do not fit",
            c.tenant_id, c.used_tokens, c.reserved_tokens
        )
    } else {
        format!(
            "Tenant {} has used {} of its {limit} tokens this period; calls resume at {}",
            c.tenant_id,
            c.used_tokens,
            rfc3339(c.period.resets_at)
        )
    };
    let body = json!({
        "error": "token_limit_exceeded",
        "limit": "token_limit",
        "message": message,
        "allowed": false,
        "tenant_id": c.tenant_id,
        "used_tokens": c.used_tokens,
        "reserved_tokens": c.reserved_tokens,
        "estimated_tokens": estimated_tokens,
        "token_limit": c.token_limit,
        "usage_pct": c.token_limit.map(|l| usage_pct(c.used_tokens, l)),
        "resets_at": rfc3339(c.period.resets_at),
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds_until(c.now, c.period.resets_at)));
    response
}

async fn report(
    State(state): State<AppState>,
    AuthenticatedAgent(agent): AuthenticatedAgent,
    ValidJson(body): ValidJson<ReportBody>,
) -> Result<Response, AppError> {
    let report = UsageReport::try_from(body)?;
    let now = state.clock.now_ms();
    let t = state.enforcer.tenant_now(&agent.tenant_id, now).await?;
    let recorded = state
        .writer
        .record(NewEvent {
            tenant_id: agent.tenant_id,
            agent_id: agent.agent_id,
            report,
            occurred_at: now,
            period_start: t.period.start,
            resets_at: t.period.resets_at,
            token_limit: t.token_limit.map(|l| l.get()),
        })
        .await?;
    // A replay answers what the first report was answered, with recorded: false.
    let mut body = serde_json::to_value(&recorded.result).unwrap_or_default();
    body["recorded"] = recorded.recorded.into();
    let status = if recorded.recorded {
        StatusCode::CREATED
    } else {
        body["replayed"] = true.into();
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

async fn status(
    State(state): State<AppState>,
    AuthenticatedAgent(agent): AuthenticatedAgent,
) -> Result<Response, AppError> {
    let now = state.clock.now_ms();
    let t = state.enforcer.tenant_now(&agent.tenant_id, now).await?;
    let c = period_counters(&state.db.pool, &agent.tenant_id, t.period.start).await?;
    let used = c.total_tokens();
    let reserved = state.enforcer.reserved_in_memory(&agent.tenant_id).unwrap_or(c.reserved_tokens.max(0) as u64);
    Ok(Json(json!({
        "tenant_id": agent.tenant_id,
        "input_tokens": c.input_tokens,
        "output_tokens": c.output_tokens,
        "total_tokens": used,
        "reserved_tokens": reserved,
        "cost_usd": micros_to_usd(c.cost_micros),
        "event_count": c.event_count,
        "token_limit": t.token_limit,
        "remaining_tokens": t.token_limit.map(|l| l.get().saturating_sub(used)),
        "usage_pct": t.token_limit.map(|l| usage_pct(used, l)),
        "period_start": rfc3339(t.period.start),
        "resets_at": rfc3339(t.period.resets_at),
    }))
    .into_response())
}
