//! The tenant budget page: this period's spend against the budget (figures, the four-colour
//! bar, the grace indicator), the alert history, the spend trend, the configuration form with
//! its live block amount, and the budget's audit entries. Server-rendered; everything but the
//! live figures while typing works with JavaScript off.

use super::rules::{
    check_ceiling, format_budget_pct, usd_text, BudgetConfig, BudgetDuration, BudgetForm, ALERT_THRESHOLD_RANGE,
    GRACE_THRESHOLD_RANGE,
};
use super::server_fns::{load_budget, SaveBudget, SaveBudgetCeiling, CEILING_SAVED_MESSAGE, SAVED_MESSAGE};
use super::trend::{ChartGeometry, SpendTrend, VIEW_HEIGHT, VIEW_WIDTH};
use super::{BudgetOverview, SpendSource};
use crate::alerts::{AlertPage, AlertRecord};
use crate::audit::page::{audit_source, AuditLog, AuditSource};
use crate::error::{sentence, AppError};
use crate::format::{format_datetime, format_reset, format_usd};
use crate::ui::{set_status, Field};
use crate::usage::table::UnpricedWarning;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn BudgetPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let tenant_id = move || params.with(|p| p.get("tenant_id").unwrap_or_default());
    let alerts_page = move || query.with(|q| q.get("alerts_page").and_then(|p| p.parse::<u32>().ok()));
    let save = ServerAction::<SaveBudget>::new();
    let save_ceiling = ServerAction::<SaveBudgetCeiling>::new();
    let overview = Resource::new(
        move || (tenant_id(), alerts_page(), save.version().get(), save_ceiling.version().get()),
        |(id, page, _, _)| load_budget(id, page),
    );
    let changes = audit_source(Signal::derive(tenant_id), Signal::derive(move || save.version().get()));
    view! {
        <Transition fallback=|| view! { <p class="page">"Loading budget…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(overview) => view! { <BudgetView overview save save_ceiling changes/> }.into_any(),
                    Err(error) => view! { <BudgetUnavailable error/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// "Budget data unavailable", with the reason and the error's HTTP status; never a blank page.
#[component]
fn BudgetUnavailable(error: AppError) -> impl IntoView {
    set_status(error.status());
    view! {
        <section class="page error-page">
            <h1>"Budget data unavailable"</h1>
            <p role="alert">{error.to_string()}</p>
            <p><a href="/">"Back to usage"</a></p>
        </section>
    }
}

#[component]
fn BudgetView(
    overview: BudgetOverview,
    save: ServerAction<SaveBudget>,
    save_ceiling: ServerAction<SaveBudgetCeiling>,
    changes: AuditSource,
) -> impl IntoView {
    let o = overview;
    let heading = if o.display_name == o.tenant_id {
        format!("Budget of {}", o.tenant_id)
    } else {
        format!("Budget of {} ({})", o.display_name, o.tenant_id)
    };
    let figures = match o.budget {
        Some(budget) => view! { <BudgetFigures overview=o.clone() budget/> }.into_any(),
        None => view! {
            <p class="empty">"No budget set: calls are not limited by spend. "{format!("Spent this period: {}.", format_usd(o.spend_micros))}</p>
        }
        .into_any(),
    };
    let chart = match o.budget {
        Some(budget) if o.trend.is_drawable() => view! { <SpendChart trend=o.trend.clone() budget/> }.into_any(),
        _ => view! {
            <p class="empty chart-empty">"Insufficient data"</p>
            <p class="hint">"The chart needs a budget and at least 7 days of spend in this period."</p>
        }
        .into_any(),
    };
    let source = (o.spend_source == SpendSource::LiteLlm).then(|| {
        view! {
            <p class="hint">"Spend as LiteLLM counts it for this tenant's virtual key, read at most once a minute; calls are enforced on Tollgate's own ledger."</p>
        }
    });
    let tenant_path = format!("/tenants/{}", o.tenant_id);
    view! {
        <section class="page">
            <h1>{heading}</h1>
            <nav class="tabs" aria-label="Tenant">
                <a href=tenant_path>"Usage"</a>
                <span aria-current="page">"Budget"</span>
            </nav>
            {figures}
            {source}
            <UnpricedWarning events=o.unpriced_events/>
            <h2>"Alert history"</h2>
            <AlertHistory page=o.alerts.clone()/>
            <h2>"Spend trend"</h2>
            {chart}
            <h2>"Budget configuration"</h2>
            <BudgetConfigForm overview=o.clone() save/>
            {o.can_set_ceiling.then(|| view! { <CeilingForm overview=o.clone() save=save_ceiling/> })}
            <h2>"Changes"</h2>
            <AuditLog source=changes label="Changes to this tenant"/>
        </section>
    }
}

/// Spend, max, percent, block amount, the bar and the grace indicator.
#[component]
fn BudgetFigures(overview: BudgetOverview, budget: BudgetConfig) -> impl IntoView {
    let spend = overview.spend_micros;
    let state = budget.state(spend);
    let block = budget.block_amount_micros();
    // The bar runs to the block amount; markers show the alert threshold and 100 %.
    let fill = (i128::from(spend.max(0)) * 1000 / i128::from(block.max(1))).min(1000) as f64 / 10.0;
    let marker = |pct: u32| format!("left: {:.1}%", f64::from(pct) * 100.0 / f64::from(budget.grace_threshold_pct));
    let percent = format_budget_pct(spend, budget.max_budget_micros);
    let reserved = (overview.reserved_micros > 0).then(
        || view! { <div><dt>"Reserved"</dt><dd class="stat-value">{format_usd(overview.reserved_micros)}</dd></div> },
    );
    view! {
        <dl class="stats" aria-label="Budget this period">
            <div><dt>"Current Spend"</dt><dd class=format!("stat-value {}", state.css_class())>{format_usd(spend)}</dd></div>
            <div><dt>"Max Budget"</dt><dd class="stat-value">{format_usd(budget.max_budget_micros)}</dd></div>
            <div><dt>"Percent Used"</dt><dd class=format!("stat-value {}", state.css_class())>{percent.clone()}</dd></div>
            <div><dt>"Block Amount"</dt><dd class="stat-value">{format_usd(block)}</dd></div>
            {reserved}
        </dl>
        <div class=format!("budget-bar {}", state.css_class()) role="progressbar" aria-label="Budget used"
            aria-valuemin="0" aria-valuemax=budget.grace_threshold_pct.to_string()
            aria-valuenow=format!("{:.1}", budget.percent_used(spend)) aria-valuetext=format!("{percent} of the budget")>
            <div class="budget-bar-fill" style=format!("width: {fill:.1}%")></div>
            <span class="budget-bar-marker" style=marker(budget.alert_threshold_pct) title="Alert threshold"></span>
            <span class="budget-bar-marker" style=marker(100) title="100 %"></span>
        </div>
        {state.indicator().map(|text| view! { <p class=format!("budget-indicator {}", state.css_class()) role="status">{text}</p> })}
        <p class="hint">
            {format_reset(overview.now, overview.resets_at)}
            {format!(" · {}-day period · alerts at {}%, blocked at {}% ({}).", overview.current_period_days,
                budget.alert_threshold_pct, budget.grace_threshold_pct, format_usd(block))}
            {overview.duration_begins_at.map(|at| format!(" {}-day periods begin on {}.",
                budget.budget_duration.days(), crate::format::format_date(at)))}
        </p>
    }
}

/// The last alerts, ten to a page (older pages through the URL), coloured by kind.
#[component]
fn AlertHistory(page: AlertPage) -> impl IntoView {
    if page.alerts.is_empty() {
        return view! { <p class="empty">"No alerts yet"</p> }.into_any();
    }
    let pages = page.page_count();
    let older = (page.page < pages).then(|| format!("?alerts_page={}", page.page + 1));
    let newer = (page.page > 1).then(|| format!("?alerts_page={}", page.page - 1));
    let rows = page.alerts.into_iter().map(|alert| view! { <AlertRow alert/> }).collect_view();
    view! {
        <table class="usage-table alert-table" aria-label="Alert history">
            <thead>
                <tr>
                    <th scope="col">"Timestamp"</th>
                    <th scope="col">"Event"</th>
                    <th scope="col" class="num">"Spend"</th>
                    <th scope="col" class="num">"Max Budget"</th>
                    <th scope="col" class="num">"Percentage"</th>
                    <th scope="col">"Webhook"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        <p class="pager">
            {newer.map(|href| view! { <a href=href>"Newer alerts"</a> })}
            {format!(" Page {} of {pages} ", page.page)}
            {older.map(|href| view! { <a href=href>"Older alerts"</a> })}
        </p>
    }
    .into_any()
}

#[component]
fn AlertRow(alert: AlertRecord) -> impl IntoView {
    let class = format!("alert-row {}", alert.kind.state().css_class());
    let delivery = match (alert.delivered_at, &alert.last_error) {
        (Some(at), _) => format!("Delivered {}", format_datetime(at)),
        (None, Some(error)) => format!("Failed after {} attempts: {error}", alert.attempts),
        (None, None) => "Not sent".to_owned(),
    };
    view! {
        <tr class=class>
            <td>{format_datetime(alert.created_at)}</td>
            <th scope="row">{alert.label}</th>
            <td class="num">{format_usd(alert.spend_micros)}</td>
            <td class="num">{format_usd(alert.max_budget_micros)}</td>
            <td class="num">{format!("{:.1}%", alert.percent)}</td>
            <td>{delivery}</td>
        </tr>
    }
}

/// Cumulative spend by day with the alert (dashed yellow), 100 % (red) and grace (dark red)
/// lines: plain SVG in a fixed view box, so it renders on the server and hydrates unchanged.
#[component]
fn SpendChart(trend: SpendTrend, budget: BudgetConfig) -> impl IntoView {
    let g = ChartGeometry::new(&trend, &budget);
    let (left, top, right, bottom) = g.plot;
    let grid = g
        .y_ticks
        .into_iter()
        .map(|(y, label)| {
            view! {
                <line class="grid" x1=left x2=right y1=y y2=y></line>
                <text class="tick" x=left - 6.0 y=y + 4.0 text-anchor="end">{label}</text>
            }
        })
        .collect_view();
    let dates = g
        .x_ticks
        .into_iter()
        .map(|(x, label, anchor)| view! { <text class="tick" x=x y=bottom + 22.0 text-anchor=anchor>{label}</text> })
        .collect_view();
    let lines = g
        .lines
        .into_iter()
        .map(|l| {
            view! {
                <line class=format!("threshold {}", l.class) x1=left x2=right y1=l.y y2=l.y></line>
                <text class=format!("threshold-label {}", l.class) x=right - 4.0 y=l.label_y text-anchor="end">{l.label}</text>
            }
        })
        .collect_view();
    let days = trend.days.len();
    view! {
        <figure class="spend-chart">
            <svg viewBox=format!("0 0 {VIEW_WIDTH} {VIEW_HEIGHT}") role="img"
                aria-label=format!("Cumulative spend over the last {days} days, with the alert, 100% and grace lines")>
                {grid}
                <line class="axis" x1=left x2=left y1=top y2=bottom></line>
                <line class="axis" x1=left x2=right y1=bottom y2=bottom></line>
                {lines}
                <polyline class="spend" points=g.points></polyline>
                {dates}
            </svg>
            <figcaption class="hint">"Cumulative spend this period, by day (UTC)."</figcaption>
        </figure>
    }
}

/// Max budget, the two thresholds and the period, checked as you type by the same rule the
/// server applies; the live block amount; the outcome of saving.
#[component]
fn BudgetConfigForm(overview: BudgetOverview, save: ServerAction<SaveBudget>) -> impl IntoView {
    let initial = BudgetForm::of(overview.budget.as_ref());
    let current_days = overview.current_period_days;
    // A tenant admin is held to the system admin's ceiling, here as on the server.
    let ceiling = (!overview.can_set_ceiling).then_some(overview.budget_ceiling_micros).flatten();
    let reset_date = crate::format::format_date(overview.resets_at);
    let max_budget = RwSignal::new(initial.max_budget.clone());
    let alert = RwSignal::new(initial.alert_threshold.clone());
    let grace = RwSignal::new(initial.grace_threshold.clone());
    let duration = RwSignal::new(initial.budget_duration.clone());
    let form = move || BudgetForm {
        max_budget: max_budget.get(),
        alert_threshold: alert.get(),
        grace_threshold: grace.get(),
        budget_duration: duration.get(),
    };
    let parsed = Memo::new(move |_| {
        BudgetConfig::parse(&form()).and_then(|c| check_ceiling(Some(&c), ceiling).map(|()| c).map_err(|e| vec![e]))
    });
    let server_error = move || save.value().get().and_then(Result::err);
    let error_for = move |field: &'static str| {
        move || {
            let typed =
                parsed.with(|p| p.as_ref().err().and_then(|errors| errors.iter().find(|e| e.field == field).cloned()));
            typed
                .map(|e| sentence(&e.message))
                .or_else(|| server_error().filter(|e| e.field() == Some(field)).map(|e| e.field_message()))
        }
    };
    let block_text = move || parsed.with(|p| p.as_ref().ok().map(BudgetConfig::block_text));
    // A new duration begins at the next reset: the current period, and its spend, run on.
    let period_hint = move || {
        let chosen = BudgetDuration::parse(&duration.get()).ok().map(BudgetDuration::days);
        match chosen {
            Some(days) if days != current_days => format!(
                "{days}-day periods will begin on {reset_date}, when the current {current_days}-day period resets; \
                 spend so far keeps counting until then."
            ),
            _ => format!("The current {current_days}-day period resets on {reset_date}."),
        }
    };
    let ceiling_hint = ceiling.map(|c| {
        view! { <p class="hint">{format!("Your system admin allows a block amount of at most {}.", format_usd(c))}</p> }
    });
    let query = use_query_map();
    let saved = move || {
        matches!(save.value().get(), Some(Ok(_)))
            || query.with(|q| q.get("saved").is_some()) && save.value().get().is_none()
    };
    let failure = move || {
        server_error().filter(|e| e.field().is_none()).map(|e| match e {
            AppError::BadGateway { message } => message,
            other => format!("Failed to update budget configuration: {other}"),
        })
    };
    let options = BudgetDuration::ALL
        .into_iter()
        .map(|d| {
            let value = d.as_str();
            view! { <option value=value selected=initial.budget_duration == value>{format!("{} days", d.days())}</option> }
        })
        .collect_view();
    let sync = overview
        .litellm_synced
        .then(|| view! { <p class="hint">"Saving also updates this tenant's LiteLLM virtual key."</p> });
    view! {
        <ActionForm action=save attr:class="form narrow" attr:aria-label="Budget configuration" attr:novalidate=true>
            <input type="hidden" name="tenant_id" value=overview.tenant_id.clone()/>
            <Field label="Max Budget ($)" id="budget-max" error=Signal::derive(error_for("max_budget"))>
                <input id="budget-max" name="max_budget" type="number" min="0.01" step="50" inputmode="decimal"
                    aria-describedby="budget-max-error" value=initial.max_budget.clone() prop:value=move || max_budget.get()
                    on:input=move |ev| max_budget.set(event_target_value(&ev))/>
            </Field>
            <Field label="Alert Threshold (%)" id="budget-alert" error=Signal::derive(error_for("alert_threshold"))>
                <PercentSlider id="budget-alert" name="alert_threshold" range=ALERT_THRESHOLD_RANGE value=alert/>
            </Field>
            <Field label="Grace Threshold (%)" id="budget-grace" error=Signal::derive(error_for("grace_threshold"))>
                <PercentSlider id="budget-grace" name="grace_threshold" range=GRACE_THRESHOLD_RANGE value=grace/>
            </Field>
            <Field label="Budget Period" id="budget-duration" error=Signal::derive(error_for("budget_duration"))>
                <select id="budget-duration" name="budget_duration" on:change=move |ev| duration.set(event_target_value(&ev))>
                    {options}
                </select>
            </Field>
            <p class="hint">{period_hint}</p>
            {ceiling_hint}
            <p class="block-amount" role="status">{block_text}</p>
            {sync}
            {move || saved().then(|| view! { <p class="alert ok" role="status">{SAVED_MESSAGE}</p> })}
            {move || failure().map(|m| view! { <p class="alert error" role="alert">{m}</p> })}
            <div class="form-actions">
                <button type="submit" class="primary" disabled=move || save.pending().get() || parsed.with(Result::is_err)>
                    "Save Budget Config"
                </button>
            </div>
        </ActionForm>
    }
}

/// The ceiling on the block amount tenant admins may save (system admins only): empty for none.
#[component]
fn CeilingForm(overview: BudgetOverview, save: ServerAction<SaveBudgetCeiling>) -> impl IntoView {
    let initial = overview.budget_ceiling_micros.map(usd_text).unwrap_or_default();
    let error = move || save.value().get().and_then(Result::err);
    let field_error = Signal::derive(move || error().filter(|e| e.field().is_some()).map(|e| e.field_message()));
    let query = use_query_map();
    let saved = move || {
        matches!(save.value().get(), Some(Ok(_)))
            || query.with(|q| q.get("ceiling_saved").is_some()) && save.value().get().is_none()
    };
    view! {
        <h3>"Ceiling for tenant admins"</h3>
        <ActionForm action=save attr:class="form narrow" attr:aria-label="Budget ceiling" attr:novalidate=true>
            <input type="hidden" name="tenant_id" value=overview.tenant_id.clone()/>
            <Field label="Highest block amount ($)" id="budget-ceiling" error=field_error>
                <input id="budget-ceiling" name="budget_ceiling" type="text" inputmode="decimal" placeholder="No ceiling"
                    aria-describedby="budget-ceiling-error" value=initial/>
            </Field>
            <p class="hint">"Tenant admins may save a budget whose block amount (max budget × grace %) is at most this, and may not remove it. Empty: no ceiling."</p>
            {move || saved().then(|| view! { <p class="alert ok" role="status">{CEILING_SAVED_MESSAGE}</p> })}
            {move || error().filter(|e| e.field().is_none()).map(|e| view! { <p class="alert error" role="alert">{e.to_string()}</p> })}
            <div class="form-actions">
                <button type="submit" disabled=move || save.pending().get()>"Save Ceiling"</button>
            </div>
        </ActionForm>
    }
}

/// A whole-percent range input with its value shown beside it; a plain form field, so it
/// submits (and moves by keyboard) with JavaScript off too.
#[component]
fn PercentSlider(id: &'static str, name: &'static str, range: (u32, u32), value: RwSignal<String>) -> impl IntoView {
    let (min, max) = range;
    view! {
        <div class="slider">
            <input id=id name=name type="range" min=min.to_string() max=max.to_string() step="1"
                value=value.get_untracked() prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))/>
            <output for=id>{move || format!("{}%", value.get())}</output>
        </div>
    }
}
