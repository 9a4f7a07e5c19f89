//! The agent HTTP API: check before a call (optionally reserving an estimate), report after
//! it (settling the reservation), read the current status. Every route authenticates the
//! agent by its API key and acts on that agent's tenant only. Each handler is parse → gate →
//! typed answer.

use super::auth::AuthenticatedAgent;
use super::json::ValidJson;
use crate::budgets::rules::{format_budget_pct, BudgetState};
use crate::enforce::{Admission, Call};
use crate::error::AppError;
use crate::format::format_usd;
use crate::limits::period::{rfc3339, seconds_until};
use crate::limits::{usage_pct, EnforcementMode, LimitKind, TokenLimit};
use crate::overrides::parse_user_id;
use crate::state::AppState;
use crate::usage::batch::Recorded;
use crate::usage::report::MAX_ID_CHARS;
use crate::usage::report::{micros_to_usd, ReportBody, ReportResult, UsageReport, MAX_TOKENS_PER_EVENT};
use crate::validation::{short_text, FieldError};
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
    /// The model the call will use: the estimate is then priced and reserved against the budget.
    #[serde(default)]
    model: Option<String>,
    /// The end user the call is for: their override, if they have one, applies too.
    #[serde(default)]
    user_id: Option<String>,
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
        let model = body.model.map(|m| short_text("model", &m, MAX_ID_CHARS)).transpose()?;
        let user_id = body.user_id.map(|u| parse_user_id("user_id", &u)).transpose()?;
        Ok(Call { estimated_tokens, model, user_id })
    }
}

async fn check(
    State(state): State<AppState>,
    AuthenticatedAgent(agent): AuthenticatedAgent,
    ValidJson(body): ValidJson<CheckBody>,
) -> Result<Response, AppError> {
    let call = Call::try_from(body)?;
    let user_id = call.user_id.clone();
    let a = state.gate.admit(&agent, call).await?;
    let user = UserFigures::of(user_id.as_deref(), &a);
    if let Some(kind) = a.decision.refused_by {
        return Ok(refusal(agent.tenant_id.as_str(), &a, kind, user));
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
        budget: BudgetFigures::of(&a),
        user,
        mode: a.decision.mode,
        would_refuse: a.decision.would_refuse.map(LimitKind::as_str),
    })
    .into_response())
}

/// A user's figures, in answers to checks that name a user with an override.
#[derive(Serialize)]
struct UserFigures {
    user_id: String,
    user_used_tokens: u64,
    user_reserved_tokens: u64,
    user_token_limit: u64,
    user_remaining_tokens: u64,
}

impl UserFigures {
    fn of(user_id: Option<&str>, a: &Admission) -> Option<Self> {
        let (user_id, u) = (user_id?, a.user?);
        Some(Self {
            user_id: user_id.to_owned(),
            user_used_tokens: u.used_tokens,
            user_reserved_tokens: u.reserved_tokens,
            user_token_limit: u.limit.get(),
            user_remaining_tokens: u.limit.get().saturating_sub(u.used_tokens.saturating_add(u.reserved_tokens)),
        })
    }
}

/// The budget figures every answer carries: `budget_state` is `null` without a budget.
#[derive(Serialize)]
struct BudgetFigures {
    budget_state: Option<BudgetState>,
    spend_usd: f64,
    reserved_usd: f64,
    max_budget_usd: Option<f64>,
}

impl BudgetFigures {
    fn of(a: &Admission) -> Self {
        Self {
            budget_state: a.policy.budget_state(a.usage),
            spend_usd: micros_to_usd(a.usage.spend_micros as i64),
            reserved_usd: micros_to_usd(a.usage.reserved_micros as i64),
            max_budget_usd: a.policy.budget.map(|b| micros_to_usd(b.max_budget_micros)),
        }
    }
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
    #[serde(flatten)]
    budget: BudgetFigures,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    user: Option<UserFigures>,
    /// The mode the call was decided in.
    mode: EnforcementMode,
    /// Monitor mode: the limit that would have refused this call.
    #[serde(skip_serializing_if = "Option::is_none")]
    would_refuse: Option<&'static str>,
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
    #[serde(flatten)]
    budget: BudgetFigures,
    /// Budget refusals: the spend as a percentage of the max budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    estimated_cost_usd: Option<f64>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    user: Option<UserFigures>,
}

/// 429 with `Retry-After` (seconds to the reset) and a body that says which limit and by how much.
fn refusal(tenant_id: &str, a: &Admission, kind: LimitKind, user: Option<UserFigures>) -> Response {
    let (used, reserved, estimated) = (a.usage.used_tokens, a.usage.reserved_tokens, a.demand.tokens);
    let resumes = rfc3339(a.period.resets_at);
    let message = match (kind, a.policy.budget) {
        (LimitKind::UserTokenLimit, _) => match &user {
            Some(u) if estimated > 0 && u.user_used_tokens < u.user_token_limit => format!(
                "User {} of tenant {tenant_id} has {} tokens used and {} reserved of their {} this period; {estimated} more do not fit",
                u.user_id, u.user_used_tokens, u.user_reserved_tokens, u.user_token_limit
            ),
            Some(u) => format!(
                "User {} of tenant {tenant_id} has used {} of their {} tokens this period; calls resume at {resumes}",
                u.user_id, u.user_used_tokens, u.user_token_limit
            ),
            None => format!("A user's token limit refused this call; calls resume at {resumes}"),
        },
        (LimitKind::Budget, Some(b)) => {
            let spend = a.usage.spend_micros as i64;
            let block = b.block_amount_micros();
            if a.demand.cost_micros > 0 && spend < block {
                format!(
                    "Tenant {tenant_id} has spent {} with {} reserved; an estimated {} more would pass its block amount of {}",
                    format_usd(spend),
                    format_usd(a.usage.reserved_micros as i64),
                    format_usd(a.demand.cost_micros as i64),
                    format_usd(block)
                )
            } else {
                format!(
                    "Tenant {tenant_id} has spent {} of its {} budget ({}, blocked at {}% of it); calls resume at {resumes}",
                    format_usd(spend),
                    format_usd(b.max_budget_micros),
                    format_budget_pct(spend, b.max_budget_micros),
                    b.grace_threshold_pct
                )
            }
        }
        _ => {
            let limit = a.policy.token_limit.map(TokenLimit::get).unwrap_or_default();
            if estimated > 0 && used < limit {
                format!(
                    "Tenant {tenant_id} has {used} tokens used and {reserved} reserved of its {limit} this period; {estimated} more do not fit"
                )
            } else {
                format!(
                    "Tenant {tenant_id} has used {used} of its {limit} tokens this period; calls resume at {resumes}"
                )
            }
        }
    };
    let budget_refusal = kind == LimitKind::Budget;
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
        budget: BudgetFigures::of(a),
        percent: a.policy.budget.filter(|_| budget_refusal).map(|b| b.percent_used(a.usage.spend_micros as i64)),
        estimated_cost_usd: budget_refusal.then(|| micros_to_usd(a.demand.cost_micros as i64)),
        user,
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
    let report = UsageReport::parse(body, state.gate.prices())?;
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
    /// The period's tokens (input + output), as a check calls them.
    used_tokens: u64,
    /// Deprecated alias of `used_tokens`, kept for clients written before it.
    total_tokens: u64,
    reserved_tokens: u64,
    cost_usd: f64,
    event_count: i64,
    /// Events of a model without a price, recorded at $0.
    unpriced_events: i64,
    token_limit: Option<u64>,
    /// The limit less the used tokens (reservations not subtracted, unlike a check's).
    remaining_tokens: Option<u64>,
    usage_pct: Option<f64>,
    period_start: String,
    resets_at: String,
    budget_state: Option<BudgetState>,
    spend_usd: f64,
    max_budget_usd: Option<f64>,
    /// Spend as a percentage of the max budget.
    budget_pct: Option<f64>,
    block_amount_usd: Option<f64>,
    /// The tenant's mode (its own, or the server's default).
    mode: EnforcementMode,
    /// Calls let through this period in monitor mode that enforce would have refused.
    would_refuse_count: i64,
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
    let (limit, budget) = (s.policy.token_limit, s.policy.budget);
    Ok(Json(Status {
        tenant_id: s.tenant_id.to_string(),
        input_tokens: c.input_tokens,
        output_tokens: c.output_tokens,
        used_tokens: used,
        total_tokens: used,
        reserved_tokens: s.reserved_tokens,
        cost_usd: micros_to_usd(c.cost_micros),
        event_count: c.event_count,
        unpriced_events: c.unpriced_events,
        token_limit: limit.map(TokenLimit::get),
        remaining_tokens: limit.map(|l| l.get().saturating_sub(used)),
        usage_pct: limit.map(|l| usage_pct(used, l)),
        period_start: rfc3339(s.period.start),
        resets_at: rfc3339(s.period.resets_at),
        budget_state: budget.map(|b| b.state(c.cost_micros)),
        spend_usd: micros_to_usd(c.cost_micros),
        max_budget_usd: budget.map(|b| micros_to_usd(b.max_budget_micros)),
        budget_pct: budget.map(|b| b.percent_used(c.cost_micros)),
        block_amount_usd: budget.map(|b| micros_to_usd(b.block_amount_micros())),
        mode: s.policy.mode_or(state.gate.default_mode()),
        would_refuse_count: c.would_refuse_count,
    })
    .into_response())
}
