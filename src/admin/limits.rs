//! The Admin tab's "Usage Limits" (`/admin?tab=limits`, system admins): every tenant with its token limit, budget,
//! Usage %, mode and number of user overrides, searched, sorted and paged on the server (the
//! usage table's query, so it stays fast at 10,000 tenants), and an edit drawer for a tenant's
//! limit, max budget and mode (the budget's thresholds and period are on its budget page).

use super::tabs::{AdminTabs, LIMITS_PATH};
use crate::auth::pages::use_me;
use crate::auth::CurrentUser;
use crate::budgets::rules::{parse_usd, usd_text};
use crate::budgets::{BudgetConfig, BudgetForm};
use crate::error::{sentence, AppError};
use crate::format::{format_count, format_usd};
use crate::limits::server_fns::SaveTenantLimits;
use crate::limits::{EnforcementMode, TokenLimit};
use crate::ui::{ErrorPage, Field, Modal, Notice, Pager, UsageProgressBar};
use crate::usage::model::{SortKey, UsagePage, UsageQuery, UsageRow, PAGE_SIZE};
use crate::usage::server_fns::list_usage;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

/// A link to this page with `query` (kept in the URL, so the links work without JavaScript).
fn href(query: &UsageQuery) -> String {
    match query.to_query_string().as_str() {
        "?" => LIMITS_PATH.to_owned(),
        qs => format!("{}&{}", LIMITS_PATH, &qs[1..]),
    }
}

#[component]
pub fn UsageLimitsPage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        params.with(|p| UsageQuery::from_params(p.get_str("q"), p.get_str("sort"), p.get_str("dir"), p.get_str("page")))
    });
    let save = ServerAction::<SaveTenantLimits>::new();
    let rows = Resource::new(move || (query.get(), save.version().get()), |(query, ..)| list_usage(query));
    let editing = RwSignal::new(None::<UsageRow>);
    let me = use_me();
    view! {
        <section class="page">
            <h1>"Admin"</h1>
            <AdminTabs current="limits"/>
            {match me.filter(CurrentUser::is_system_admin) {
                None => view! { <ErrorPage error=AppError::forbidden("The Admin tab is for system admins")/> }.into_any(),
                Some(_) => view! {
                    <Form method="GET" action="/admin" attr:class="filter" attr:role="search">
                        <input type="hidden" name="tab" value="limits"/>
                        <label for="limits-filter">"Search tenants"</label>
                        <input id="limits-filter" type="search" name="q" placeholder="Tenant id or name" prop:value=move || query.get().q/>
                        <button type="submit" class="secondary">"Search"</button>
                    </Form>
                    <Transition fallback=|| view! { <p>"Loading tenants…"</p> }>
                        {move || Suspend::new(async move {
                            match rows.await {
                                Ok(page) => view! { <LimitsTable page editing/> }.into_any(),
                                Err(error) => view! { <ErrorPage error/> }.into_any(),
                            }
                        })}
                    </Transition>
                    <EditDrawer editing save/>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn LimitsTable(page: UsagePage, editing: RwSignal<Option<UsageRow>>) -> impl IntoView {
    let query = page.query.clone();
    if page.rows.is_empty() {
        return view! { <p class="empty">"No tenants match."</p> }.into_any();
    }
    let sort_link = move |key: SortKey| {
        let q = query.sorted_by(key);
        let arrow = match (query.sort == key, query.desc) {
            (false, _) => "",
            (true, false) => " ▲",
            (true, true) => " ▼",
        };
        view! { <a href=href(&q)>{key.label()}{arrow}</a> }
    };
    let pages = page.page_count();
    let q = page.query.clone();
    let rows = page.rows.into_iter().map(|row| view! { <LimitsRow row editing/> }).collect_view();
    let prev = (q.page > 1).then(|| href(&q.with_page(q.page - 1)));
    let next = (q.page < pages).then(|| href(&q.with_page(q.page + 1)));
    let shown =
        format!("{} tenants · page {} of {pages} ({PAGE_SIZE} per page)", format_count(page.total_rows as i64), q.page);
    view! {
        <table class="usage-table" aria-label="Usage limits">
            <thead>
                <tr>
                    <th scope="col">{sort_link(SortKey::TenantId)}</th>
                    <th scope="col" class="num">"Token Limit"</th>
                    <th scope="col" class="num">{sort_link(SortKey::Budget)}</th>
                    <th scope="col">{sort_link(SortKey::UsagePct)}</th>
                    <th scope="col">{sort_link(SortKey::Mode)}</th>
                    <th scope="col" class="num">{sort_link(SortKey::Overrides)}</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        <Pager shown page=format!("Page {} of {pages}", q.page) prev next/>
    }
    .into_any()
}

#[component]
fn LimitsRow(row: UsageRow, editing: RwSignal<Option<UsageRow>>) -> impl IntoView {
    let tenant_href = format!("/tenants/{}", row.tenant_id);
    let limit = row.token_limit.and_then(|l| TokenLimit::new(l).ok());
    let used = row.total_tokens.max(0) as u64;
    let usage = match limit {
        Some(limit) => view! { <UsageProgressBar used limit label=format!("Usage of {}", row.tenant_id)/> }.into_any(),
        None => view! { <span>"No Limit"</span> }.into_any(),
    };
    let budget = row.budget.map_or("No budget".to_owned(), |b| {
        format!("{} / {}", format_usd(row.cost_micros), format_usd(b.max_budget_micros))
    });
    let mode = row.mode.map_or("Server default".to_owned(), |m| m.label().to_owned());
    let edit_label = format!("Edit limits of {}", row.tenant_id);
    let (id, data_tenant) = (row.tenant_id.clone(), row.tenant_id.clone());
    view! {
        <tr data-tenant=data_tenant>
            <th scope="row"><a href=tenant_href.clone()>{id}</a></th>
            <td class="num">{limit.map_or("No Limit".to_owned(), |l| format_count(l.get() as i64))}</td>
            <td class="num">{budget}</td>
            <td>{usage}</td>
            <td>{mode}</td>
            <td class="num"><a href=tenant_href>{format_count(row.override_count)}</a></td>
            <td class="row-actions">
                <button type="button" class="link" aria-label=edit_label on:click=move |_| editing.set(Some(row.clone()))>"Edit"</button>
            </td>
        </tr>
    }
}

/// A side drawer (the console's one modal pattern, drawn at the edge) for one tenant's token
/// limit, max budget, budget ceiling and mode: one form and one Save, so nothing typed in one
/// field is dropped by saving another. Each field is checked while typing by the server's own
/// rule, and everything again on the server before anything is saved.
#[component]
fn EditDrawer(editing: RwSignal<Option<UsageRow>>, save: ServerAction<SaveTenantLimits>) -> impl IntoView {
    let open = RwSignal::new(false);
    let limit_text = RwSignal::new(String::new());
    let ceiling_text = RwSignal::new(String::new());
    let mode_value = RwSignal::new(String::new());
    // The budget's other settings stay as they are (or the defaults); the budget page has them all.
    let budget_form = RwSignal::new(BudgetForm::of(None));
    let tenant = move || editing.with(|e| e.as_ref().map(|r| r.tenant_id.clone()).unwrap_or_default());
    Effect::new(move |_| {
        if let Some(row) = editing.get() {
            limit_text.set(row.token_limit.map(|l| l.to_string()).unwrap_or_default());
            ceiling_text.set(row.budget_ceiling_micros.map(usd_text).unwrap_or_default());
            mode_value.set(row.mode.map_or("default", EnforcementMode::as_str).to_owned());
            let mut form = BudgetForm::of(row.budget.as_ref());
            if row.budget.is_none() {
                form.max_budget.clear();
            }
            budget_form.set(form);
            open.set(true);
        }
    });
    Effect::new(move |_| {
        if !open.get() {
            editing.set(None);
        }
    });
    let typed = |text: String, check: &dyn Fn(&str) -> Option<String>| {
        (!text.trim().is_empty()).then(|| check(&text)).flatten()
    };
    let limit_error = move || typed(limit_text.get(), &|t| TokenLimit::parse(t).err().map(|e| sentence(&e.message)));
    let budget_error = move || {
        let form = budget_form.get();
        typed(form.max_budget.clone(), &|_| {
            BudgetConfig::parse(&form).err().and_then(|e| e.into_iter().next()).map(|e| sentence(&e.message))
        })
    };
    let ceiling_error =
        move || typed(ceiling_text.get(), &|t| parse_usd("budget_ceiling", t).err().map(|e| sentence(&e.message)));
    let server_error = move |field: &'static str| {
        move || {
            save.value().with(|v| match v {
                Some(Err(e)) if e.field() == Some(field) => Some(e.field_message()),
                _ => None,
            })
        }
    };
    let invalid = move || limit_error().is_some() || budget_error().is_some() || ceiling_error().is_some();
    let outcome = Signal::derive(move || {
        save.value().get().map(|r| match r {
            Ok(()) => Ok("Saved.".to_owned()),
            Err(e) => Err(e.to_string()),
        })
    });
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if !invalid() {
            save.dispatch(SaveTenantLimits {
                tenant_id: tenant(),
                token_limit: limit_text.get_untracked(),
                max_budget: budget_form.with_untracked(|f| f.max_budget.clone()),
                budget_ceiling: ceiling_text.get_untracked(),
                mode: mode_value.get_untracked(),
            });
        }
    };
    let options = std::iter::once(("default", "The server's default"))
        .chain(EnforcementMode::ALL.into_iter().map(|m| (m.as_str(), m.label())))
        .map(|(value, label)| view! { <option value=value>{label}</option> })
        .collect_view();
    let title = Signal::derive(move || format!("Limits of {}", tenant()));
    view! {
        <Modal open title id="limits-drawer">
            <form class="form" on:submit=submit novalidate aria-label="Limits">
                <Field label="Token limit" id="drawer-token-limit"
                    error=Signal::derive(move || limit_error().or_else(server_error("token_limit")))>
                    <input id="drawer-token-limit" inputmode="numeric" autocomplete="off" placeholder="No Limit"
                        prop:value=move || limit_text.get() on:input=move |ev| limit_text.set(event_target_value(&ev))/>
                </Field>
                <Field label="Max budget (USD)" id="drawer-max-budget"
                    error=Signal::derive(move || budget_error().or_else(server_error("max_budget")))>
                    <input id="drawer-max-budget" inputmode="decimal" autocomplete="off" placeholder="No budget"
                        prop:value=move || budget_form.with(|f| f.max_budget.clone())
                        on:input=move |ev| budget_form.update(|f| f.max_budget = event_target_value(&ev))/>
                </Field>
                <p class="hint">{move || budget_form.with(|f| format!(
                    "Alerts at {}%, blocks at {}%, every {}: change them on the budget page.",
                    f.alert_threshold, f.grace_threshold, f.budget_duration
                ))}</p>
                <Field label="Budget ceiling for tenant admins (USD)" id="drawer-budget-ceiling"
                    error=Signal::derive(move || ceiling_error().or_else(server_error("budget_ceiling")))>
                    <input id="drawer-budget-ceiling" inputmode="decimal" autocomplete="off" placeholder="No ceiling"
                        prop:value=move || ceiling_text.get() on:input=move |ev| ceiling_text.set(event_target_value(&ev))/>
                </Field>
                <div class="field">
                    <label for="drawer-mode">"Enforcement mode"</label>
                    <select id="drawer-mode" prop:value=move || mode_value.get() on:change=move |ev| mode_value.set(event_target_value(&ev))>
                        {options}
                    </select>
                </div>
                <p class="hint">"Empty fields: No Limit, no budget, no ceiling."</p>
                <div class="form-actions">
                    <button type="submit" class="primary" disabled=move || save.pending().get() || invalid()>"Save limits"</button>
                </div>
            </form>
            <p>
                <a href=move || format!("/tenants/{}/budget", tenant())>"Budget page"</a>
                " · "
                <a href=move || format!("/tenants/{}", tenant())>"User overrides"</a>
            </p>
            <Notice pending=save.pending() outcome/>
        </Modal>
    }
}
