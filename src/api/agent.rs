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
use crate::limits::period::rfc3339;
use crate::limits::{usage_pct, EnforcementMode, LimitKind, TokenLimit};
use crate::overrides::parse_user_id;
use crate::state::AppState;
use crate::usage::batch::Recorded;
use crate::usage::model::UsageSnapshot;
use crate::usage::report::MAX_ID_CHARS;
use crate::usage::report::{micros_to_usd, ReportBody, ReportResult, UsageReport, MAX_TOKENS_PER_EVENT};
use crate::validation::{short_text, FieldError};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check)).routes(routes!(report)).routes(routes!(status))
}

/// `POST /api/agent/usage/check`'s body (it may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
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
    /// Who will serve the call (`openai`, `anthropic`, …), when the model name alone is ambiguous.
    #[serde(default)]
    provider: Option<String>,
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
        let provider = body.provider.map(|p| short_text("provider", &p, MAX_ID_CHARS)).transpose()?;
        Ok(Call { estimated_tokens, model, user_id, provider })
    }
}

/// Before a call: may this agent's tenant (and user) make it? With `estimated_tokens` the
/// estimate is reserved until the report settles it.
#[utoipa::path(post, path = "/api/agent/usage/check", tag = "agent", request_body(content = CheckBody, description = "May be empty"),
    security(("agent_key" = [])),
    responses(
        (status = 200, description = "Allowed (in monitor mode `would_refuse` names the limit enforce would have applied)", body = Allowed),
        (status = 400, description = "Malformed JSON", body = AppError),
        (status = 401, description = "No, an unknown or a revoked agent key", body = AppError),
        (status = 422, description = "A field is invalid; `field` names it", body = AppError),
        (status = 429, description = "Refused: `limit` says which limit and by how much; `Retry-After` is the seconds to the reset", body = Refusal),
        (status = 503, description = "The database is unavailable; retry after `Retry-After`", body = AppError),
    ))]
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

/// A user's figures: all present in answers to checks that name a user with an override,
/// all absent otherwise (optional fields rather than an optional object, so the OpenAPI
/// schema of the flattened answer says exactly that).
#[derive(Default, Serialize, ToSchema)]
struct UserFigures {
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_used_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_reserved_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_token_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_remaining_tokens: Option<u64>,
}

impl UserFigures {
    fn of(user_id: Option<&str>, a: &Admission) -> Self {
        let (Some(user_id), Some(u)) = (user_id, a.user) else { return Self::default() };
        Self {
            user_id: Some(user_id.to_owned()),
            user_used_tokens: Some(u.used_tokens),
            user_reserved_tokens: Some(u.reserved_tokens),
            user_token_limit: Some(u.limit.get()),
            user_remaining_tokens: Some(u.limit.get().saturating_sub(u.used_tokens.saturating_add(u.reserved_tokens))),
        }
    }
}

/// The budget figures every answer carries: `budget_state` is `null` without a budget.
#[derive(Serialize, ToSchema)]
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
#[derive(Serialize, ToSchema)]
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
    #[serde(flatten)]
    user: UserFigures,
    /// The mode the call was decided in.
    mode: EnforcementMode,
    /// Monitor mode: the limit that would have refused this call.
    #[serde(skip_serializing_if = "Option::is_none")]
    would_refuse: Option<&'static str>,
}

/// The 429 answer of a check: which limit refused, and by how much.
#[derive(Serialize, ToSchema)]
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
    #[serde(flatten)]
    user: UserFigures,
}

/// 429 with `Retry-After` (seconds to the reset) and a body that says which limit and by how much.
fn refusal(tenant_id: &str, a: &Admission, kind: LimitKind, user: UserFigures) -> Response {
    let (used, reserved, estimated) = (a.usage.used_tokens, a.usage.reserved_tokens, a.demand.tokens);
    let message = refusal_message(tenant_id, user.user_id.as_deref(), a, kind);
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
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(a.retry_after_secs(kind)));
    response
}

/// The sentence a refusal gives: which limit, the figures, and when calls resume or how much
/// did not fit. The agent API's 429 and the proxy's OpenAI-shaped 429 both say it.
pub(crate) fn refusal_message(tenant_id: &str, user_id: Option<&str>, a: &Admission, kind: LimitKind) -> String {
    let (used, reserved, estimated) = (a.usage.used_tokens, a.usage.reserved_tokens, a.demand.tokens);
    let resumes = rfc3339(a.period.resets_at);
    match (kind, a.policy.budget) {
        (LimitKind::OpenReservations, _) => format!(
            "Tenant {tenant_id} holds {} reservations of calls not yet reported, the most at once; report calls (or let their reservations expire) and retry",
            a.usage.open_reservations
        ),
        (LimitKind::UserTokenLimit, _) => match user_id.zip(a.user).map(|(u, m)| (u, m.used_tokens, m.reserved_tokens, m.limit.get())) {
            Some((user_id, used, reserved, limit)) if estimated > 0 && used < limit => format!(
                "User {user_id} of tenant {tenant_id} has {used} tokens used and {reserved} reserved of their {limit} this period; {estimated} more do not fit"
            ),
            Some((user_id, used, _, limit)) => format!(
                "User {user_id} of tenant {tenant_id} has used {used} of their {limit} tokens this period; calls resume at {resumes}"
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
    }
}

/// The answer of a report: what it was answered the first time, and whether this time
/// recorded it (201) or replayed it (200).
#[derive(Serialize, ToSchema)]
struct ReportAnswer {
    #[serde(flatten)]
    result: ReportResult,
    recorded: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    replayed: bool,
}

/// After a call: record its usage, once per `event_id` (a replay answers what the first
/// report was answered), settling the check's reservation.
#[utoipa::path(post, path = "/api/agent/usage/report", tag = "agent", request_body = ReportBody,
    security(("agent_key" = [])),
    responses(
        (status = 201, description = "Recorded", body = ReportAnswer),
        (status = 200, description = "A replay of an event already recorded: the first answer again", body = ReportAnswer),
        (status = 400, description = "Malformed JSON", body = AppError),
        (status = 401, description = "No, an unknown or a revoked agent key", body = AppError),
        (status = 422, description = "A field is invalid; `field` names it", body = AppError),
        (status = 503, description = "The database is unavailable; retry after `Retry-After`", body = AppError),
    ))]
async fn report(
    State(state): State<AppState>,
    AuthenticatedAgent(agent): AuthenticatedAgent,
    ValidJson(body): ValidJson<ReportBody>,
) -> Result<Response, AppError> {
    let report = UsageReport::parse(body, state.gate.prices(), state.gate.now())?;
    let Recorded { recorded, result } = state.gate.settle(&agent, report).await?;
    let status = if recorded { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(ReportAnswer { result, recorded, replayed: !recorded })).into_response())
}

/// `GET /api/agent/usage/status`'s answer (and the automation API's status).
#[derive(Serialize, ToSchema)]
pub(super) struct Status {
    tenant_id: String,
    input_tokens: i64,
    output_tokens: i64,
    /// Of `input_tokens`, read from a prompt cache.
    cache_read_tokens: i64,
    /// Of `input_tokens`, written to a prompt cache (5-minute and 1-hour).
    cache_write_tokens: i64,
    /// Of `output_tokens`, spent reasoning.
    reasoning_tokens: i64,
    /// The period's tokens (input + output, cached included), as a check calls them.
    used_tokens: u64,
    /// Deprecated alias of `used_tokens`, kept for clients written before it.
    #[schema(deprecated)]
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

/// The tenant's usage this period: its tokens, budget and mode.
#[utoipa::path(get, path = "/api/agent/usage/status", tag = "agent",
    security(("agent_key" = [])),
    responses(
        (status = 200, description = "The agent's tenant's usage this period", body = Status),
        (status = 401, description = "No, an unknown or a revoked agent key", body = AppError),
        (status = 503, description = "The database is unavailable; retry after `Retry-After`", body = AppError),
    ))]
async fn status(
    State(state): State<AppState>,
    AuthenticatedAgent(agent): AuthenticatedAgent,
) -> Result<Json<Status>, AppError> {
    let s = state
        .gate
        .usage_snapshot(&agent.tenant_id)
        .await?
        .ok_or_else(|| AppError::unauthorized("Invalid or revoked API key"))?;
    Ok(Json(status_answer(&s, state.gate.default_mode())))
}

/// The status answer of a tenant's snapshot (the agent API's and the automation API's).
pub(super) fn status_answer(s: &UsageSnapshot, default_mode: EnforcementMode) -> Status {
    let c = &s.counters;
    let used = c.total_tokens();
    let (limit, budget) = (s.policy.token_limit, s.policy.budget);
    Status {
        tenant_id: s.tenant_id.to_string(),
        input_tokens: c.input_tokens,
        output_tokens: c.output_tokens,
        cache_read_tokens: c.cache_read_tokens,
        cache_write_tokens: c.cache_write_tokens,
        reasoning_tokens: c.reasoning_tokens,
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
        mode: s.policy.mode_or(default_mode),
        would_refuse_count: c.would_refuse_count,
    }
}
