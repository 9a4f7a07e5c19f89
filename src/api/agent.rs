//! The agent HTTP API: check before a call (optionally reserving an estimate), report after
//! it (settling the reservation), read the current status. Every route authenticates the
//! agent by its API key and acts on that agent's tenant only. Each handler is parse → gate →
//! typed answer.

use super::auth::AuthenticatedAgent;
use super::json::ValidJson;
use crate::enforce::{Admission, Call};
use crate::error::AppError;
use crate::limits::period::{rfc3339, seconds_until};
use crate::limits::{usage_pct, LimitKind, TokenLimit};
use crate::state::AppState;
use crate::usage::batch::Recorded;
use crate::usage::report::{micros_to_usd, ReportBody, ReportResult, UsageReport, MAX_TOKENS_PER_EVENT};
use crate::validation::FieldError;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

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

impl TryFrom<CheckBody> for Call {
    type Error = FieldError;

    fn try_from(body: CheckBody) -> Result<Self, FieldError> {
        let estimated_tokens = match body.estimated_tokens {
            None => 0,
            Some(n) if n < 0 => return Err(FieldError::new("estimated_tokens", "must not be negative")),
            Some(n) if n > 2 * MAX_TOKENS_PER_EVENT => {
                let max = 2 * MAX_TOKENS_PER_EVENT;
                return Err(FieldError::new("estimated_tokens", format!("must be at most {max}")));
            }
            Some(n) => n as u64,
        };
        Ok(Call { estimated_tokens })
    }
}

async fn check(
    State(state): State<AppState>,
    AuthenticatedAgent(agent): AuthenticatedAgent,
    ValidJson(body): ValidJson<CheckBody>,
) -> Result<Response, AppError> {
    let call = Call::try_from(body)?;
    let a = state.gate.admit(&agent, call).await?;
    if let Some(kind) = a.decision.refused_by {
        return Ok(refusal(agent.tenant_id.as_str(), &a, kind));
    }
    Ok(Json(Allowed {
        allowed: true,
        tenant_id: agent.tenant_id.as_str(),
        used_tokens: a.usage.used_tokens,
        reserved_tokens: a.usage.reserved_tokens,
        token_limit: a.policy.token_limit.map(TokenLimit::get),
        remaining_tokens: a.policy.remaining_tokens(a.usage),
        resets_at: rfc3339(a.period.resets_at),
        reservation_id: a.reservation.map(|r| r.id.to_string()),
        reservation_expires_at: a.reservation.map(|r| rfc3339(r.expires_at)),
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
    reservation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reservation_expires_at: Option<String>,
}

/// The 429 answer of a check: which limit refused, and by how much.
#[derive(Serialize)]
struct Refusal<'a> {
    error: &'static str,
    limit: &'static str,
    message: String,
    allowed: bool,
    tenant_id: &'a str,
    used_tokens: u64,
    reserved_tokens: u64,
    estimated_tokens: u64,
    token_limit: Option<u64>,
    usage_pct: Option<f64>,
    resets_at: String,
}

/// 429 with `Retry-After` (seconds to the reset) and a body that says which limit and by how much.
fn refusal(tenant_id: &str, a: &Admission, kind: LimitKind) -> Response {
    let (used, reserved, estimated) = (a.usage.used_tokens, a.usage.reserved_tokens, a.demand.tokens);
    let limit = a.policy.token_limit.map(TokenLimit::get).unwrap_or_default();
    let message = if estimated > 0 && used < limit {
        format!(
            "Tenant {tenant_id} has {used} tokens used and {reserved} reserved of its {limit} this period; {estimated} more do not fit"
        )
    } else {
        format!(
            "Tenant {tenant_id} has used {used} of its {limit} tokens this period; calls resume at {}",
            rfc3339(a.period.resets_at)
        )
    };
    let body = Refusal {
        error: kind.error_code(),
        limit: kind.as_str(),
        message,
        allowed: false,
        tenant_id,
        used_tokens: used,
        reserved_tokens: reserved,
        estimated_tokens: estimated,
        token_limit: a.policy.token_limit.map(TokenLimit::get),
        usage_pct: a.policy.token_limit.map(|l| usage_pct(used, l)),
        resets_at: rfc3339(a.period.resets_at),
    };
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds_until(a.now, a.period.resets_at)));
    response
}

/// The answer of a report: what it was answered the first time, and whether this time
/// recorded it (201) or replayed it (200).
#[derive(Serialize)]
struct ReportAnswer {
    #[serde(flatten)]
    result: ReportResult,
    recorded: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    replayed: bool,
}

async fn report(
    State(state): State<AppState>,
    AuthenticatedAgent(agent): AuthenticatedAgent,
    ValidJson(body): ValidJson<ReportBody>,
) -> Result<Response, AppError> {
    let report = UsageReport::try_from(body)?;
    let Recorded { recorded, result } = state.gate.settle(&agent, report).await?;
    let status = if recorded { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(ReportAnswer { result, recorded, replayed: !recorded })).into_response())
}

/// `GET /api/agent/usage/status`'s answer.
#[derive(Serialize)]
struct Status {
    tenant_id: String,
    input_tokens: i64,
    output_tokens: i64,
    total_tokens: u64,
    reserved_tokens: u64,
    cost_usd: f64,
    event_count: i64,
    token_limit: Option<u64>,
    /// The limit less the used tokens (reservations not subtracted, unlike a check's).
    remaining_tokens: Option<u64>,
    usage_pct: Option<f64>,
    period_start: String,
    resets_at: String,
}

async fn status(
    State(state): State<AppState>,
    AuthenticatedAgent(agent): AuthenticatedAgent,
) -> Result<Response, AppError> {
    let s = state
        .gate
        .usage_snapshot(&agent.tenant_id)
        .await?
        .ok_or_else(|| AppError::unauthorized("Invalid or revoked API key"))?;
    let c = &s.counters;
    let used = c.total_tokens();
    let limit = s.policy.token_limit;
    Ok(Json(Status {
        tenant_id: s.tenant_id.to_string(),
        input_tokens: c.input_tokens,
        output_tokens: c.output_tokens,
        total_tokens: used,
        reserved_tokens: s.reserved_tokens,
        cost_usd: micros_to_usd(c.cost_micros),
        event_count: c.event_count,
        token_limit: limit.map(TokenLimit::get),
        remaining_tokens: limit.map(|l| l.get().saturating_sub(used)),
        usage_pct: limit.map(|l| usage_pct(used, l)),
        period_start: rfc3339(s.period.start),
        resets_at: rfc3339(s.period.resets_at),
    })
    .into_response())
}
