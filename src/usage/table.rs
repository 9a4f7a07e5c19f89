//! The usage page: the per-tenant usage table with filter, sorting and paging in the URL,
//! refreshed every 10 s and after every change, plus the deploy and limit dialogs.

use super::model::{SortKey, UsagePage as Page, UsageQuery, UsageRow, PAGE_SIZE};
use super::server_fns::list_usage;
use crate::agents::deploy::DeployModal;
use crate::agents::server_fns::DeployAgent;
use crate::auth::pages::use_me;
use crate::format::{format_count, format_usd};
use crate::limits::edit::LimitDialog;
use crate::limits::server_fns::{ClearTokenLimit, SetTokenLimit};
use crate::ui::{use_interval, Pager};
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

/// How often the table refreshes itself.
pub const REFRESH_MS: u32 = 10_000;

#[component]
pub fn UsagePage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        params.with(|p| UsageQuery::from_params(p.get_str("q"), p.get_str("sort"), p.get_str("dir"), p.get_str("page")))
    });
    let refresh = RwSignal::new(0u32);
    let deploy = ServerAction::<DeployAgent>::new();
    let set_limit = ServerAction::<SetTokenLimit>::new();
    let clear_limit = ServerAction::<ClearTokenLimit>::new();
    // Refetched when the query changes, on every tick and after every write. Inside a
    // Transition the old rows stay on screen until the new ones arrive: no spinner, no flicker.
    let usage = Resource::new(
        move || {
            (query.get(), refresh.get(), deploy.version().get(), set_limit.version().get(), clear_limit.version().get())
        },
        |(query, ..)| list_usage(query),
    );
    use_interval(REFRESH_MS, move || refresh.update(|n| *n = n.wrapping_add(1)));
    let deploy_open = RwSignal::new(false);
    let editing = RwSignal::new(None::<UsageRow>);
    // Deploying and changing limits are for system admins (the server enforces it too).
    let can_manage = use_me().is_some_and(|me| me.is_system_admin());

    view! {
        <section class="page">
            <div class="page-header">
                <h1>"Token usage"</h1>
                <div class="actions">
                    <button type="button" class="secondary" on:click=move |_| refresh.update(|n| *n = n.wrapping_add(1))>
                        "Refresh"
                    </button>
                    {can_manage.then(|| view! {
                        <button type="button" class="primary" on:click=move |_| deploy_open.set(true)>"Deploy agent"</button>
                    })}
                </div>
            </div>
            <FilterForm query/>
            <Transition fallback=TableSkeleton>
                <ErrorBoundary fallback=|errors| view! { <DataUnavailable errors/> }>
                    {move || Suspend::new(async move { usage.await.map(|page| view! { <UsageTable page editing can_manage/> }) })}
                </ErrorBoundary>
            </Transition>
        </section>
        {can_manage.then(|| view! {
            <DeployModal open=deploy_open action=deploy/>
            <LimitDialog editing set_limit clear_limit/>
        })}
    }
}

/// The filter box; a plain GET form, so it works without JavaScript too.
#[component]
fn FilterForm(query: Memo<UsageQuery>) -> impl IntoView {
    view! {
        <Form method="GET" action="/" attr:class="filter" attr:role="search">
            <label for="tenant-filter">"Filter tenants"</label>
            <input id="tenant-filter" type="search" name="q" placeholder="Tenant id or name" prop:value=move || query.get().q/>
            <input type="hidden" name="sort" prop:value=move || query.get().sort.as_str()/>
            <input type="hidden" name="dir" prop:value=move || if query.get().desc { "desc" } else { "asc" }/>
            <button type="submit" class="secondary">"Filter"</button>
        </Form>
    }
}

#[component]
fn UsageTable(page: Page, editing: RwSignal<Option<UsageRow>>, can_manage: bool) -> impl IntoView {
    let query = page.query.clone();
    if page.rows.is_empty() {
        let message = if query.q.is_empty() {
            "No tenants yet. Deploy an agent to create one.".to_owned()
        } else {
            format!("No tenants match “{}”.", query.q)
        };
        return view! { <p class="empty">{message}</p> }.into_any();
    }
    let headers = SortKey::ALL
        .into_iter()
        .filter(|key| key.in_usage_table())
        .map(|key| {
            let active = key == query.sort;
            let aria_sort = match (active, query.desc) {
                (false, _) => "none",
                (true, false) => "ascending",
                (true, true) => "descending",
            };
            let arrow = match aria_sort {
                "ascending" => " ▲",
                "descending" => " ▼",
                _ => "",
            };
            let class = if key == SortKey::TenantId { "" } else { "num" };
            let href = format!("/{}", query.sorted_by(key).to_query_string());
            view! {
                <th scope="col" class=class aria-sort=aria_sort>
                    <a href=href>{key.label()}{arrow}</a>
                </th>
            }
        })
        .collect_view();
    let page_count = page.page_count();
    let rows = page.rows.into_iter().map(|row| view! { <UsageTableRow row editing can_manage/> }).collect_view();
    let first = query.offset() + 1;
    let last = query.offset() + u64::from(PAGE_SIZE);
    let shown = format!(
        "{}–{} of {} tenants",
        format_count(first as i64),
        format_count(last.min(page.total_rows) as i64),
        format_count(page.total_rows as i64)
    );
    let prev = (query.page > 1).then(|| format!("/{}", query.with_page(query.page - 1).to_query_string()));
    let next = (query.page < page_count).then(|| format!("/{}", query.with_page(query.page + 1).to_query_string()));
    view! {
        <table class="usage-table" aria-label="Token usage by tenant">
            <thead>
                <tr>
                    {headers}
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        <Pager shown page=format!("Page {} of {}", query.page, page_count) prev next/>
    }
    .into_any()
}

#[component]
fn UsageTableRow(row: UsageRow, editing: RwSignal<Option<UsageRow>>, can_manage: bool) -> impl IntoView {
    let pct_class = format!("num usage-pct {}", row.band().css_class());
    let limit_title = match row.token_limit {
        Some(limit) => format!("{} of {} tokens", format_count(row.total_tokens), format_count(limit as i64)),
        None => "No token limit".to_owned(),
    };
    let name = (row.display_name != row.tenant_id).then(|| row.display_name.clone());
    let edit_label = format!("Edit token limit of {}", row.tenant_id);
    let tenant_id = row.tenant_id.clone();
    let tenant_href = format!("/tenants/{}", row.tenant_id);
    let id_text = row.tenant_id.clone();
    let budget_href = format!("/tenants/{}/budget", row.tenant_id);
    // "$12.30 / $500.00", coloured by the budget's state; "No budget" without one.
    let (budget_text, budget_class) = match (row.budget, row.budget_state()) {
        (Some(b), Some(state)) => (
            format!("{} / {}", format_usd(row.cost_micros), format_usd(b.max_budget_micros)),
            format!("num budget-cell {}", state.css_class()),
        ),
        _ => ("No budget".to_owned(), "num budget-cell".to_owned()),
    };
    let cells = view! {
        <th scope="row">
            <a href=tenant_href class="tenant-id">{id_text}</a>
            {name.map(|n| view! { <span class="tenant-name">{n}</span> })}
        </th>
        <td class="num">{format_count(row.input_tokens)}</td>
        <td class="num">{format_count(row.output_tokens)}</td>
        <td class="num">
            {format_count(row.total_tokens)}
            {(row.reserved_tokens > 0).then(|| view! {
                <span class="reserved">{format!("+{} reserved", format_count(row.reserved_tokens))}</span>
            })}
        </td>
        <td class="num">{format_usd(row.cost_micros)}</td>
        <td class=pct_class title=limit_title>{row.usage_pct_text()}</td>
        <td class=budget_class>
            <a href=budget_href>{budget_text}</a>
        </td>
    };
    view! {
        <tr data-tenant=tenant_id>
            {cells}
            <td class="row-actions">
                {can_manage.then(|| view! {
                    <button type="button" class="link" aria-label=edit_label on:click=move |_| editing.set(Some(row.clone()))>
                        "Edit limit"
                    </button>
                })}
            </td>
        </tr>
    }
}

/// Shown once, before the first data arrives.
#[component]
fn TableSkeleton() -> impl IntoView {
    view! {
        <div class="skeleton" aria-busy="true">
            <span class="visually-hidden">"Loading usage…"</span>
            {(0..5).map(|_| view! { <div class="skeleton-row"></div> }).collect_view()}
        </div>
    }
}

#[component]
fn DataUnavailable(errors: ArcRwSignal<Errors>) -> impl IntoView {
    view! {
        <div class="alert error" role="alert">
            <strong>"Usage data unavailable"</strong>
            <ul>
                {move || errors.get().into_iter().map(|(_, e)| view! { <li>{e.to_string()}</li> }).collect_view()}
            </ul>
        </div>
    }
}

/// The flag for events recorded at $0 because their model had no price and the agent sent no
/// cost (nothing when there are none): spend is understated until a price is added.
#[component]
pub fn UnpricedWarning(events: i64) -> impl IntoView {
    (events > 0).then(|| {
        let noun = if events == 1 { "event" } else { "events" };
        view! {
            <p class="alert warn" role="status">
                {format!("{events} {noun} this period used a model without a price and no reported cost: recorded at $0.00.")}
            </p>
        }
    })
}
