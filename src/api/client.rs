//! The automation API (`/api/client/usage/*`): what a console user can see and change, for
//! scripts. A personal API token authenticates the user; every route applies that user's role
//! as the console does (system admins: every tenant; tenant admins: their own tenant, whose
//! user overrides and budget they may manage but not its limit or mode). Errors have the agent
//! API's shape. Changes go through `limits::manage` and `budgets::manage`, like the console's.

use super::agent::{status_answer, Status};
use super::auth::AuthenticatedUser;
use super::json::{ValidJson, ValidPath, ValidQuery};
use crate::auth::guard::{not_found, require_tenant};
use crate::auth::CurrentUser;
use crate::budgets::rules::usd_text;
use crate::budgets::{BudgetConfig, BudgetDuration, BudgetForm};
use crate::error::AppError;
use crate::limits::period::rfc3339;
use crate::limits::{manage, EnforcementMode, TokenLimit};
use crate::overrides::store::SetKind;
use crate::overrides::{parse_user_id, UserOverride};
use crate::state::AppState;
use crate::tenants::TenantId;
use crate::usage::history::{HistoryCursor, HistoryParams, HistoryQuery};
use crate::usage::report::micros_to_usd;
use crate::usage::UsageQuery;
use crate::validation::FieldError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, IntoResponses, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(list_limits))
        .routes(routes!(get_limits, put_limits, delete_limits))
        .routes(routes!(create_override))
        .routes(routes!(get_override, put_override, delete_override))
        .routes(routes!(history))
}

/// The answers every automation route may give besides its own.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only described, never built: the handlers answer `AppError`.
enum CommonAnswers {
    /// No, an unknown or a revoked API token.
    #[response(status = 401)]
    Unauthorized(AppError),
    /// The database is unavailable; retry after `Retry-After`.
    #[response(status = 503)]
    Unavailable(AppError),
}

/// The tenant a request is about: the one it names, else a tenant admin's own.
fn tenant_of(user: &CurrentUser, named: Option<&str>) -> Result<TenantId, AppError> {
    let id = match named.or(user.tenant_scope()) {
        Some(t) => TenantId::parse(t)?,
        None => return Err(FieldError::new("tenant_id", "required").into()),
    };
    require_tenant(user, &id)?;
    Ok(id)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct TenantParam {
    /// The tenant (required for system admins; a tenant admin's own tenant by default).
    tenant_id: Option<String>,
}

/// A tenant's usage in its current period, as the agent API's status answers it.
#[utoipa::path(get, path = "/api/client/usage/status", tag = "client", params(TenantParam),
    security(("api_token" = [])),
    responses(
        CommonAnswers,
        (status = 200, description = "The tenant's usage this period", body = Status),
        (status = 404, description = "No such tenant (or not yours)", body = AppError),
        (status = 422, description = "A parameter is invalid; `field` names it", body = AppError),
    ))]
async fn status(
    State(state): State<AppState>,
    AuthenticatedUser(user): AuthenticatedUser,
    ValidQuery(p): ValidQuery<TenantParam>,
) -> Result<Json<Status>, AppError> {
    let id = tenant_of(&user, p.tenant_id.as_deref())?;
    let snapshot = state.gate.usage_snapshot(&id).await?.ok_or_else(|| not_found(&id))?;
    Ok(Json(status_answer(&snapshot, state.gate.default_mode())))
}

/// `GET /api/client/usage/limits`'s parameters: the usage table's.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListParams {
    /// Case-insensitive part of a tenant id or display name.
    q: Option<String>,
    /// `tenant_id`, `display_name`, `total_tokens`, `cost`, `usage_pct`, …
    sort: Option<String>,
    /// `asc` or `desc`.
    dir: Option<String>,
    /// 1-based page of 50 tenants.
    page: Option<String>,
}

/// One tenant in the limits list.
#[derive(Serialize, ToSchema)]
struct TenantLimitsRow {
    tenant_id: String,
    display_name: String,
    token_limit: Option<u64>,
    used_tokens: u64,
    usage_pct: Option<f64>,
    max_budget_usd: Option<f64>,
    spend_usd: f64,
    /// The tenant's own mode; `null`: it follows the server's default.
    mode_setting: Option<EnforcementMode>,
    /// The mode its checks are decided in.
    mode: EnforcementMode,
    override_count: u64,
}

#[derive(Serialize, ToSchema)]
struct TenantLimitsPage {
    tenants: Vec<TenantLimitsRow>,
    total: u64,
    page: u32,
    per_page: u32,
}

/// Every tenant the user may see with its limits and usage (a tenant admin: their own),
/// searched, sorted and paged on the server.
#[utoipa::path(get, path = "/api/client/usage/limits", tag = "client", params(ListParams),
    security(("api_token" = [])),
    responses(
        CommonAnswers,
        (status = 200, description = "One page of tenants", body = TenantLimitsPage),
        (status = 422, description = "A parameter is unknown", body = AppError),
    ))]
async fn list_limits(
    State(state): State<AppState>,
    AuthenticatedUser(user): AuthenticatedUser,
    ValidQuery(p): ValidQuery<ListParams>,
) -> Result<Json<TenantLimitsPage>, AppError> {
    let query = UsageQuery::from_params(p.q.as_deref(), p.sort.as_deref(), p.dir.as_deref(), p.page.as_deref());
    let scope = user.tenant_scope().map(TenantId::parse).transpose()?;
    let page = state.gate.usage_page(&query, scope.as_ref()).await?;
    let default_mode = state.gate.default_mode();
    let tenants = page
        .rows
        .into_iter()
        .map(|r| TenantLimitsRow {
            usage_pct: r.usage_pct(),
            used_tokens: r.total_tokens.max(0) as u64,
            tenant_id: r.tenant_id,
            display_name: r.display_name,
            token_limit: r.token_limit,
            max_budget_usd: r.budget.map(|b| micros_to_usd(b.max_budget_micros)),
            spend_usd: micros_to_usd(r.cost_micros),
            mode_setting: r.mode,
            mode: r.mode.unwrap_or(default_mode),
            override_count: r.override_count.max(0) as u64,
        })
        .collect();
    Ok(Json(TenantLimitsPage {
        tenants,
        total: page.total_rows,
        page: page.query.page,
        per_page: crate::usage::PAGE_SIZE,
    }))
}

/// A user override as the API shows it.
#[derive(Serialize, ToSchema)]
struct OverrideAnswer {
    tenant_id: String,
    user_id: String,
    token_limit: u64,
    /// The user's tokens this period.
    used_tokens: u64,
    remaining_tokens: u64,
    created_at: String,
    updated_at: String,
}

impl From<UserOverride> for OverrideAnswer {
    fn from(o: UserOverride) -> Self {
        Self {
            remaining_tokens: o.token_limit.get().saturating_sub(o.used_tokens),
            tenant_id: o.tenant_id,
            user_id: o.user_id,
            token_limit: o.token_limit.get(),
            used_tokens: o.used_tokens,
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
        }
    }
}

/// A tenant's budget as configured.
#[derive(Serialize, ToSchema)]
struct BudgetAnswer {
    max_budget_usd: f64,
    alert_threshold_pct: u32,
    grace_threshold_pct: u32,
    /// The duration last saved.
    budget_duration_days: u32,
    /// When periods of `budget_duration_days` begin, if it was saved mid-period: a new
    /// duration takes effect at the current period's reset, so nothing counted is lost.
    /// `null`: it is the current period's duration.
    budget_duration_begins_at: Option<String>,
}

/// A tenant's limits: its own token limit, budget and mode, and its users' overrides.
#[derive(Serialize, ToSchema)]
struct TenantLimits {
    tenant_id: String,
    display_name: String,
    token_limit: Option<u64>,
    budget: Option<BudgetAnswer>,
    /// The tenant's own mode; `null`: it follows the server's default.
    mode_setting: Option<EnforcementMode>,
    /// The mode its checks are decided in.
    mode: EnforcementMode,
    /// The highest block amount (max budget × grace %) a tenant admin may save; while set,
    /// they may not remove the budget. Set by system admins; `null`: no ceiling.
    budget_ceiling_usd: Option<f64>,
    period_start: String,
    resets_at: String,
    overrides: Vec<OverrideAnswer>,
}

async fn tenant_limits(state: &AppState, id: &TenantId) -> Result<TenantLimits, AppError> {
    let pool = &state.db.pool;
    let tenant = crate::tenants::store::get(pool, id).await?.ok_or_else(|| not_found(id))?;
    let policy = tenant.policy();
    let now = state.clock.now_ms();
    let period = policy.period_at(now);
    let begins_at = policy.period.settled(now).next.map(|n| rfc3339(n.from));
    let overrides = crate::overrides::store::list(pool, id, period.start).await?;
    Ok(TenantLimits {
        tenant_id: tenant.id.clone(),
        display_name: tenant.display_name.clone(),
        token_limit: policy.token_limit.map(TokenLimit::get),
        budget: policy.budget.map(|b| BudgetAnswer {
            max_budget_usd: micros_to_usd(b.max_budget_micros),
            alert_threshold_pct: b.alert_threshold_pct,
            grace_threshold_pct: b.grace_threshold_pct,
            budget_duration_days: b.budget_duration.days(),
            budget_duration_begins_at: begins_at.clone(),
        }),
        mode_setting: policy.mode,
        mode: policy.mode_or(state.gate.default_mode()),
        budget_ceiling_usd: tenant.budget_ceiling_micros.map(micros_to_usd),
        period_start: rfc3339(period.start),
        resets_at: rfc3339(period.resets_at),
        overrides: overrides.into_iter().map(OverrideAnswer::from).collect(),
    })
}

/// One tenant's limits and overrides.
#[utoipa::path(get, path = "/api/client/usage/limits/{tenant_id}", tag = "client",
    params(("tenant_id" = String, Path, description = "The tenant")),
    security(("api_token" = [])),
    responses(
        CommonAnswers,
        (status = 200, description = "The tenant's limits", body = TenantLimits),
        (status = 404, description = "No such tenant (or not yours)", body = AppError),
        (status = 422, description = "The tenant id is invalid", body = AppError),
    ))]
async fn get_limits(
    State(state): State<AppState>,
    AuthenticatedUser(user): AuthenticatedUser,
    ValidPath(tenant_id): ValidPath<String>,
) -> Result<Json<TenantLimits>, AppError> {
    let id = tenant_of(&user, Some(&tenant_id))?;
    Ok(Json(tenant_limits(&state, &id).await?))
}

/// Reads a present field as `Some(value)`, so `Option<Option<T>>` tells "absent" (`None`)
/// from `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `PUT /api/client/usage/limits/{tenant_id}`: the settings to change; absent ones stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TenantSettingsBody {
    /// Tokens per period; `null` removes the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    token_limit: Option<Option<i64>>,
    /// `off`, `monitor`, `enforce`, or `default` (follow the server's).
    #[serde(default)]
    mode: Option<String>,
    /// The USD budget; `null` removes it. Tenant admins may change their own tenant's budget
    /// (as on the budget page); with LiteLLM configured its virtual key is updated first.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BudgetBody>)]
    budget: Option<Option<BudgetBody>>,
    /// The highest block amount a tenant admin may save, in dollars (system admins only);
    /// `null` removes the ceiling.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    budget_ceiling_usd: Option<Option<serde_json::Value>>,
}

/// Dollars as a JSON number or its text, by the budget form's rule.
fn usd_field(field: &str, value: serde_json::Value) -> Result<i64, FieldError> {
    let text = match value {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s,
        _ => return Err(FieldError::new(field, "must be an amount in dollars, like 500 or 250.50")),
    };
    crate::budgets::rules::parse_usd(field, &text)
}

/// A budget as `PUT …/limits/{tenant_id}` takes it: the fields of the GET answer's `budget`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BudgetBody {
    /// Dollars in whole cents, greater than 0: a number (`250.5`) or its text (`"250.50"`).
    #[schema(value_type = f64)]
    max_budget_usd: serde_json::Value,
    /// Alerts at this % of the budget (50–100; default 80).
    #[serde(default)]
    alert_threshold_pct: Option<u32>,
    /// Calls are refused at this % of the budget (100–150; default 110).
    #[serde(default)]
    grace_threshold_pct: Option<u32>,
    /// 30, 60 or 90 (default 30).
    #[serde(default)]
    budget_duration_days: Option<u32>,
}

impl BudgetBody {
    /// Validates by the budget page's own rules; errors name the API's fields.
    fn parse(self) -> Result<BudgetConfig, FieldError> {
        let field = |name: &str| format!("budget.{name}");
        let max_budget = usd_text(usd_field(&field("max_budget_usd"), self.max_budget_usd)?);
        let defaults = BudgetForm::of(None);
        let budget_duration = match self.budget_duration_days {
            None => defaults.budget_duration,
            Some(days) => BudgetDuration::from_days(days)
                .ok_or_else(|| FieldError::new(field("budget_duration_days"), "must be 30, 60 or 90"))?
                .as_str()
                .to_owned(),
        };
        let form = BudgetForm {
            max_budget,
            alert_threshold: self.alert_threshold_pct.map_or(defaults.alert_threshold, |p| p.to_string()),
            grace_threshold: self.grace_threshold_pct.map_or(defaults.grace_threshold, |p| p.to_string()),
            budget_duration,
        };
        BudgetConfig::parse(&form).map_err(|errors| {
            let first = errors.into_iter().next().unwrap_or_else(|| FieldError::new("max_budget", "invalid"));
            let name = match first.field.as_str() {
                "max_budget" => "max_budget_usd",
                "alert_threshold" => "alert_threshold_pct",
                "grace_threshold" => "grace_threshold_pct",
                _ => "budget_duration_days",
            };
            FieldError::new(field(name), first.message)
        })
    }
}

fn token_limit(field: &str, n: i64) -> Result<TokenLimit, FieldError> {
    let n = u64::try_from(n).map_err(|_| FieldError::new(field, "must be greater than 0"))?;
    TokenLimit::new(n).map_err(|e| FieldError::new(field, e.message))
}

/// Changes a tenant's token limit, mode (system admins only) and/or budget (system admins, and
/// tenant admins for their own tenant). Everything is checked before anything is changed.
#[utoipa::path(put, path = "/api/client/usage/limits/{tenant_id}", tag = "client",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = TenantSettingsBody,
    security(("api_token" = [])),
    responses(
        CommonAnswers,
        (status = 200, description = "The tenant's limits after the change", body = TenantLimits),
        (status = 400, description = "Malformed JSON", body = AppError),
        (status = 403, description = "A tenant admin may not change their tenant's limit or mode", body = AppError),
        (status = 404, description = "No such tenant (or not yours)", body = AppError),
        (status = 422, description = "A field is invalid; `field` names it", body = AppError),
        (status = 502, description = "LiteLLM refused the budget; nothing was saved", body = AppError),
    ))]
async fn put_limits(
    State(state): State<AppState>,
    AuthenticatedUser(user): AuthenticatedUser,
    ValidPath(tenant_id): ValidPath<String>,
    ValidJson(body): ValidJson<TenantSettingsBody>,
) -> Result<Json<TenantLimits>, AppError> {
    let id = tenant_of(&user, Some(&tenant_id))?;
    let limit = body.token_limit.map(|l| l.map(|n| token_limit("token_limit", n)).transpose()).transpose()?;
    let mode = body.mode.as_deref().map(|m| EnforcementMode::parse_setting("mode", m)).transpose()?;
    let budget = body.budget.map(|b| b.map(BudgetBody::parse).transpose()).transpose()?;
    let ceiling =
        body.budget_ceiling_usd.map(|c| c.map(|v| usd_field("budget_ceiling_usd", v)).transpose()).transpose()?;
    if (limit.is_some() || mode.is_some() || ceiling.is_some()) && !user.is_system_admin() {
        // Refused before the budget (which a tenant admin may change) is saved.
        return Err(AppError::forbidden(
            "Only system admins can change a tenant's token limit, enforcement mode or budget ceiling",
        ));
    }
    if let Some(limit) = limit {
        manage::set_token_limit(&state, &user, &id, limit).await?;
    }
    if let Some(mode) = mode {
        manage::set_mode(&state, &user, &id, mode).await?;
    }
    if let Some(ceiling) = ceiling {
        crate::budgets::manage::set_ceiling(&state, &user, &id, ceiling).await?;
    }
    if let Some(budget) = budget {
        crate::budgets::manage::save(&state, &user, &id, budget.as_ref()).await?;
    }
    if limit.is_none() && mode.is_none() && budget.is_none() && ceiling.is_none() {
        // Nothing to change, but the same permission applies.
        if !user.is_system_admin() {
            return Err(AppError::forbidden(
                "Only system admins can change a tenant's token limit or enforcement mode",
            ));
        }
    }
    Ok(Json(tenant_limits(&state, &id).await?))
}

/// Removes a tenant's token limit (No Limit; system admins only).
#[utoipa::path(delete, path = "/api/client/usage/limits/{tenant_id}", tag = "client",
    params(("tenant_id" = String, Path, description = "The tenant")),
    security(("api_token" = [])),
    responses(
        CommonAnswers,
        (status = 204, description = "The tenant has no token limit now"),
        (status = 403, description = "A tenant admin may not change their tenant's limit", body = AppError),
        (status = 404, description = "No such tenant (or not yours)", body = AppError),
        (status = 422, description = "The tenant id is invalid", body = AppError),
    ))]
async fn delete_limits(
    State(state): State<AppState>,
    AuthenticatedUser(user): AuthenticatedUser,
    ValidPath(tenant_id): ValidPath<String>,
) -> Result<StatusCode, AppError> {
    let id = tenant_of(&user, Some(&tenant_id))?;
    manage::set_token_limit(&state, &user, &id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/client/usage/limits/{tenant_id}/users`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewOverrideBody {
    /// The end user, as agents report them in `user_id`.
    user_id: String,
    /// The user's tokens per period.
    token_limit: i64,
}

/// `PUT /api/client/usage/limits/{tenant_id}/users/{user_id}`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    /// The user's tokens per period.
    token_limit: i64,
}

async fn override_answer(state: &AppState, id: &TenantId, user_id: &str) -> Result<OverrideAnswer, AppError> {
    let pool = &state.db.pool;
    let tenant = crate::tenants::store::get(pool, id).await?.ok_or_else(|| not_found(id))?;
    let period = tenant.policy().period_at(state.clock.now_ms());
    crate::overrides::store::get(pool, id, user_id, period.start)
        .await?
        .map(OverrideAnswer::from)
        .ok_or_else(|| AppError::not_found(format!("User {user_id} of tenant {id} has no override")))
}

/// Adds an override for a user who has none (409 if they have one: use PUT to change it).
#[utoipa::path(post, path = "/api/client/usage/limits/{tenant_id}/users", tag = "client",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = NewOverrideBody,
    security(("api_token" = [])),
    responses(
        CommonAnswers,
        (status = 201, description = "The override", body = OverrideAnswer),
        (status = 400, description = "Malformed JSON", body = AppError),
        (status = 404, description = "No such tenant (or not yours)", body = AppError),
        (status = 409, description = "The user already has an override", body = AppError),
        (status = 422, description = "A field is invalid; `field` names it", body = AppError),
    ))]
async fn create_override(
    State(state): State<AppState>,
    AuthenticatedUser(user): AuthenticatedUser,
    ValidPath(tenant_id): ValidPath<String>,
    ValidJson(body): ValidJson<NewOverrideBody>,
) -> Result<Response, AppError> {
    let id = tenant_of(&user, Some(&tenant_id))?;
    let user_id = parse_user_id("user_id", &body.user_id)?;
    let limit = token_limit("token_limit", body.token_limit)?;
    manage::set_override(&state, &user, &id, &user_id, limit, SetKind::CreateOnly).await?;
    let answer = override_answer(&state, &id, &user_id).await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// One user's override.
#[utoipa::path(get, path = "/api/client/usage/limits/{tenant_id}/users/{user_id}", tag = "client",
    params(("tenant_id" = String, Path, description = "The tenant"), ("user_id" = String, Path, description = "The end user")),
    security(("api_token" = [])),
    responses(
        CommonAnswers,
        (status = 200, description = "The override", body = OverrideAnswer),
        (status = 404, description = "No such tenant, or the user has no override", body = AppError),
        (status = 422, description = "An id is invalid", body = AppError),
    ))]
async fn get_override(
    State(state): State<AppState>,
    AuthenticatedUser(user): AuthenticatedUser,
    ValidPath((tenant_id, user_id)): ValidPath<(String, String)>,
) -> Result<Json<OverrideAnswer>, AppError> {
    let id = tenant_of(&user, Some(&tenant_id))?;
    let user_id = parse_user_id("user_id", &user_id)?;
    Ok(Json(override_answer(&state, &id, &user_id).await?))
}

/// Sets a user's override, creating it if needed (201) or changing it (200).
#[utoipa::path(put, path = "/api/client/usage/limits/{tenant_id}/users/{user_id}", tag = "client",
    params(("tenant_id" = String, Path, description = "The tenant"), ("user_id" = String, Path, description = "The end user")),
    request_body = OverrideBody,
    security(("api_token" = [])),
    responses(
        CommonAnswers,
        (status = 200, description = "The override, changed", body = OverrideAnswer),
        (status = 201, description = "The override, created", body = OverrideAnswer),
        (status = 400, description = "Malformed JSON", body = AppError),
        (status = 404, description = "No such tenant (or not yours)", body = AppError),
        (status = 409, description = "A new override, and the tenant already has the most it may (1,000)", body = AppError),
        (status = 422, description = "A field is invalid; `field` names it", body = AppError),
    ))]
async fn put_override(
    State(state): State<AppState>,
    AuthenticatedUser(user): AuthenticatedUser,
    ValidPath((tenant_id, user_id)): ValidPath<(String, String)>,
    ValidJson(body): ValidJson<OverrideBody>,
) -> Result<Response, AppError> {
    let id = tenant_of(&user, Some(&tenant_id))?;
    let user_id = parse_user_id("user_id", &user_id)?;
    let limit = token_limit("token_limit", body.token_limit)?;
    let before = manage::set_override(&state, &user, &id, &user_id, limit, SetKind::CreateOrChange).await?;
    let status = if before.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(override_answer(&state, &id, &user_id).await?)).into_response())
}

/// Removes a user's override: they share the tenant's total again.
#[utoipa::path(delete, path = "/api/client/usage/limits/{tenant_id}/users/{user_id}", tag = "client",
    params(("tenant_id" = String, Path, description = "The tenant"), ("user_id" = String, Path, description = "The end user")),
    security(("api_token" = [])),
    responses(
        CommonAnswers,
        (status = 204, description = "Removed"),
        (status = 404, description = "No such tenant, or the user has no override", body = AppError),
        (status = 422, description = "An id is invalid", body = AppError),
    ))]
async fn delete_override(
    State(state): State<AppState>,
    AuthenticatedUser(user): AuthenticatedUser,
    ValidPath((tenant_id, user_id)): ValidPath<(String, String)>,
) -> Result<StatusCode, AppError> {
    let id = tenant_of(&user, Some(&tenant_id))?;
    let user_id = parse_user_id("user_id", &user_id)?;
    manage::remove_override(&state, &user, &id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One usage event.
#[derive(Serialize, ToSchema)]
struct HistoryEventAnswer {
    tenant_id: String,
    event_id: String,
    agent_id: i64,
    user_id: Option<String>,
    model: String,
    /// Every prompt token, cached ones included.
    input_tokens: i64,
    output_tokens: i64,
    /// Of `input_tokens`: read from a prompt cache, written to a 5-minute and a 1-hour cache.
    cache_read_tokens: i64,
    cache_write_5m_tokens: i64,
    cache_write_1h_tokens: i64,
    /// Of `output_tokens`: spent reasoning.
    reasoning_tokens: i64,
    used_tokens: i64,
    cost_usd: f64,
    /// What priced the event: `reported`, `price_file`, `genai_prices` or `unknown_model`
    /// (`null` for events recorded before Tollgate kept it).
    cost_source: Option<String>,
    /// When the report was recorded (RFC 3339, milliseconds).
    occurred_at: String,
}

#[derive(Serialize, ToSchema)]
struct HistoryPage {
    /// Newest first.
    events: Vec<HistoryEventAnswer>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    next_cursor: Option<String>,
}

/// A tenant's usage events, newest first, paged by cursor and filtered by user, model and time.
#[utoipa::path(get, path = "/api/client/usage/history", tag = "client", params(HistoryParams),
    security(("api_token" = [])),
    responses(
        CommonAnswers,
        (status = 200, description = "One page of events", body = HistoryPage),
        (status = 404, description = "No such tenant (or not yours)", body = AppError),
        (status = 422, description = "A parameter is invalid; `field` names it", body = AppError),
    ))]
async fn history(
    State(state): State<AppState>,
    AuthenticatedUser(user): AuthenticatedUser,
    ValidQuery(p): ValidQuery<HistoryParams>,
) -> Result<Json<HistoryPage>, AppError> {
    let q = HistoryQuery::parse(p, user.tenant_scope())?;
    require_tenant(&user, &q.tenant_id)?;
    if crate::tenants::store::get(&state.db.pool, &q.tenant_id).await?.is_none() {
        return Err(not_found(&q.tenant_id));
    }
    let mut events = crate::usage::store::history(&state.db.pool, &q).await?;
    let more = events.len() > q.limit as usize;
    events.truncate(q.limit as usize);
    let next_cursor = more
        .then(|| events.last().map(|e| HistoryCursor { occurred_at: e.occurred_at, event_id: e.event_id.clone() }))
        .flatten()
        .map(|c| c.encode());
    let events = events
        .into_iter()
        .map(|e| HistoryEventAnswer {
            used_tokens: e.input_tokens + e.output_tokens,
            cost_usd: micros_to_usd(e.cost_micros),
            occurred_at: chrono::DateTime::from_timestamp_millis(e.occurred_at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default(),
            tenant_id: e.tenant_id,
            event_id: e.event_id,
            agent_id: e.agent_id,
            user_id: e.user_id,
            model: e.model,
            input_tokens: e.input_tokens,
            output_tokens: e.output_tokens,
            cache_read_tokens: e.cache_read_tokens,
            cache_write_5m_tokens: e.cache_write_5m_tokens,
            cache_write_1h_tokens: e.cache_write_1h_tokens,
            reasoning_tokens: e.reasoning_tokens,
            cost_source: e.cost_source,
        })
        .collect();
    Ok(Json(HistoryPage { events, next_cursor }))
}
